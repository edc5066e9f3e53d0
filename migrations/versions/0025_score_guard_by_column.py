"""A score's history guard fires by column: making a score not current no longer compares documents.

`score_guard` (0004) ran on every UPDATE of `scores` and compared the old and new `document` (a
score document is about 40 KB of JSON, compressed in TOAST: both copies read and decompressed) even
when the update only sets `current = false`, which is every update the service makes (a new score,
a rescoring's batch). It now fires only when an UPDATE names `document`, `status`, `version` or
`attempt_id` (a column an UPDATE does not name cannot change), with the same checks; a second,
cheap trigger refuses making a history row current again. Same rules, same errors; a batch of 500
rows made not current took 0.4 to 0.9 s of comparisons, now 0.01 to 0.04 s (bench/README.md).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

from service.db.migration_sql import execute_script

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("""
        DROP TRIGGER score_guard ON scores;
        CREATE TRIGGER score_guard BEFORE UPDATE OF document, status, version, attempt_id ON scores
            FOR EACH ROW EXECUTE FUNCTION score_guard();
        CREATE FUNCTION score_current_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.current AND NOT OLD.current THEN
                RAISE EXCEPTION 'score % of attempt % is history and cannot change', OLD.version, OLD.attempt_id
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER score_current_guard BEFORE UPDATE OF current ON scores
            FOR EACH ROW EXECUTE FUNCTION score_current_guard();
    """)


def downgrade() -> None:
    execute_script("""
        DROP TRIGGER score_current_guard ON scores;
        DROP FUNCTION score_current_guard();
        DROP TRIGGER score_guard ON scores;
        CREATE TRIGGER score_guard BEFORE UPDATE ON scores FOR EACH ROW EXECUTE FUNCTION score_guard();
    """)
