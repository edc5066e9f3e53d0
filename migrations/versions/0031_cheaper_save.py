"""A cheaper save (issue 19, goal 3): `save_answer` holds off a submission with a shared advisory lock on
the attempt instead of the attempt row's `FOR SHARE` lock, and sets only the context its tables read.

Same signature, same results, same guarantees; what changed inside the function:
- The attempt row was read `FOR SHARE`: a row lock writes the tuple's header (a dirtied heap page and a
  WAL record per save) and, with two saves of one attempt in flight, a MultiXact. Now the save takes
  `pg_advisory_xact_lock_shared(1931, uuid_hash(attempt))` (class 1931, so no other advisory key of the
  service, all of them one-bigint keys, can collide with it) *before* it reads the attempt, and holds it
  until its transaction ends. Every transaction that takes an attempt out of progress (the candidate's
  submit and the deadline's, `sittings.attempts.mark_submitted` and `submit_overdue`) takes the same lock
  exclusively after its UPDATE and before it reads the answers, so: a save that read the attempt in
  progress commits before the submission reads the answers (the submission waits for it), and a save
  that waited for the submission reads the attempt again after the lock (a new statement, a new
  snapshot under READ COMMITTED) and finds it submitted. The lock is taken after the row's UPDATE, which
  is the order that cannot deadlock with a save holding the row (an adaptive save's `FOR UPDATE`):
  nobody waits for the advisory lock while holding what a saver waits for. A save's own upsert of a new
  answer still checks its foreign key (a `FOR KEY SHARE` of the attempt row), which a submission's
  status change (`FOR NO KEY UPDATE`) does not block. The lock is also why the function stays
  PL/pgSQL with the lock a statement of its own: in one SQL statement the attempt would be read with
  the snapshot taken before the wait, and a save queued behind a submission would land after it. A
  save naming an attempt that is not the person's takes the lock too (the key is the attempt id
  alone): it can make that attempt's submission wait for one short transaction, and learns nothing.
- Four `set_config` calls were one: `people`, `attempts` and `responses` (all the function reads or
  writes; the foreign key check bypasses row-level security) have one policy each, on `app.tenant_id`
  alone, so `app.operator`, `app.auth_lookup` and `app.dispatcher` change nothing the function does.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07
"""

from service.db.migration_sql import execute_script

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None

_HEAD = """
    CREATE OR REPLACE FUNCTION save_answer(p_tenant uuid, p_subject text, p_attempt uuid, p_item text,
                                           p_answer jsonb, p_revision bigint, p_keep_first boolean DEFAULT false)
    RETURNS TABLE (person_known boolean, attempt_open boolean, applied boolean,
                   stored_revision bigint, stored_answer jsonb, stored_at timestamptz)
    LANGUAGE plpgsql AS $$
    DECLARE
        v_person uuid;
    BEGIN
"""

_TAIL = """
        IF attempt_open THEN
            INSERT INTO responses AS r (attempt_id, item_ref, answer, revision)
            VALUES (p_attempt, p_item, p_answer, p_revision)
            ON CONFLICT (tenant_id, attempt_id, item_ref) DO UPDATE
                SET answer = excluded.answer, revision = excluded.revision, saved_at = excluded.saved_at
                WHERE r.revision < excluded.revision AND (NOT p_keep_first OR r.answer = '{}'::jsonb)
            RETURNING r.revision, r.answer, r.saved_at INTO stored_revision, stored_answer, stored_at;
            applied := FOUND;
            IF NOT applied THEN
                SELECT r.revision, r.answer, r.saved_at INTO stored_revision, stored_answer, stored_at
                FROM responses r WHERE r.attempt_id = p_attempt AND r.item_ref = p_item;
            END IF;
        END IF;
        RETURN NEXT;
    END
    $$;
"""


def upgrade() -> None:
    execute_script(
        _HEAD
        + """
        PERFORM set_config('app.tenant_id', p_tenant::text, true);
        SELECT p.id INTO v_person FROM people p WHERE p.external_id = p_subject AND p.active;
        person_known := v_person IS NOT NULL;
        attempt_open := false;
        applied := false;
        IF person_known THEN
            -- a statement of its own, before the read: the read's snapshot sees what the wait let commit
            PERFORM pg_advisory_xact_lock_shared(1931, uuid_hash(p_attempt));
            PERFORM 1 FROM attempts t
            WHERE t.id = p_attempt AND t.person_id = v_person AND t.status = 'in_progress'
              AND NOT (t.deadline IS NOT NULL AND t.deadline + make_interval(secs => t.grace_seconds) < now());
            attempt_open := FOUND;
        END IF;
"""
        + _TAIL
    )


def downgrade() -> None:
    execute_script(
        _HEAD
        + """
        PERFORM set_config('app.tenant_id', p_tenant::text, true), set_config('app.operator', '', true),
                set_config('app.auth_lookup', '', true), set_config('app.dispatcher', '', true);
        SELECT p.id INTO v_person FROM people p WHERE p.external_id = p_subject AND p.active;
        person_known := v_person IS NOT NULL;
        attempt_open := false;
        applied := false;
        IF person_known THEN
            PERFORM 1 FROM attempts t
            WHERE t.id = p_attempt AND t.person_id = v_person AND t.status = 'in_progress'
              AND NOT (t.deadline IS NOT NULL AND t.deadline + make_interval(secs => t.grace_seconds) < now())
            FOR SHARE;
            attempt_open := FOUND;
        END IF;
"""
        + _TAIL
    )
