CREATE OR REPLACE FUNCTION bench_saves.v_out(p_tenant uuid, p_subject text, p_attempt uuid, p_item text,
    p_answer jsonb, p_revision bigint, p_keep_first boolean DEFAULT false,
    OUT person_known boolean, OUT attempt_open boolean, OUT applied boolean,
    OUT stored_revision bigint, OUT stored_answer jsonb, OUT stored_at timestamptz)
LANGUAGE plpgsql AS $fn$
    DECLARE
        v_person uuid;
    BEGIN

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
        RETURN;
    END
    $fn$;