"""Scores: one score document per attempt and scoring, history kept (never overwritten).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- Every scoring of an attempt is a new row; `current` marks the one in force. A row's
        -- document never changes (trigger), so history is exactly what was reported at the time.
        CREATE TABLE scores (
            tenant_id      uuid NOT NULL DEFAULT {TENANT},
            attempt_id     uuid NOT NULL,
            version        integer NOT NULL CHECK (version >= 1),
            status         text NOT NULL CHECK (status IN ('final', 'provisional')),
            current        boolean NOT NULL DEFAULT true,
            overall_scaled double precision,
            overall_level  text,
            document       jsonb NOT NULL,
            reason         text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
            scored_by      text NOT NULL,
            created_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, attempt_id, version),
            FOREIGN KEY (tenant_id, attempt_id) REFERENCES attempts (tenant_id, id) ON DELETE CASCADE
        );
        CREATE UNIQUE INDEX scores_one_current ON scores (tenant_id, attempt_id) WHERE current;

        CREATE FUNCTION score_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.document IS DISTINCT FROM OLD.document OR NEW.status <> OLD.status
                    OR NEW.version <> OLD.version OR NEW.attempt_id <> OLD.attempt_id
                    OR (NEW.current AND NOT OLD.current) THEN
                RAISE EXCEPTION 'score % of attempt % is history and cannot change', OLD.version, OLD.attempt_id
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER score_guard BEFORE UPDATE ON scores FOR EACH ROW EXECUTE FUNCTION score_guard();
        """
    )
    tenant_tables("scores", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script("DROP TABLE scores; DROP FUNCTION score_guard()")
