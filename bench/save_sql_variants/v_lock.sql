
        CREATE OR REPLACE FUNCTION bench_saves.v_lock(p_tenant uuid, p_subject text, p_attempt uuid, p_item text,
                                    p_answer jsonb, p_revision bigint, p_keep_first boolean DEFAULT false)
        RETURNS TABLE (person_known boolean, attempt_open boolean, applied boolean,
                       stored_revision bigint, stored_answer jsonb, stored_at timestamptz)
        LANGUAGE plpgsql AS $$
        DECLARE
            v_person uuid;
        BEGIN
            PERFORM set_config('app.tenant_id', p_tenant::text, true), set_config('app.operator', '', true),
                    set_config('app.auth_lookup', '', true), set_config('app.dispatcher', '', true);
            SELECT p.id INTO v_person FROM people p WHERE p.external_id = p_subject AND p.active;
            person_known := v_person IS NOT NULL;
            attempt_open := false;
            applied := false;
            IF person_known THEN
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
            RETURN NEXT;
        END
        $$;
        