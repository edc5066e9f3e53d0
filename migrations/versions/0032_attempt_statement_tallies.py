"""Attempts' tallies per statement (issue 19): 0019's row-level trigger on `attempts` tallied each
inserted or submitted attempt alone, and since 0029 each call also updates the unit's ancestors'
subtree rows, so a bulk INSERT of attempts (the benchmarks' loaders, an import) updated the same few
ancestor rows once per attempt in one transaction, each update walking the version chain of the
earlier ones: 50,000 attempts in one statement took about 1.5 minutes, 200,000 did not finish in 8.
0030 did the same fix for `people`; this is its design applied to attempts.

Now two statement-level triggers on `attempts` (INSERT and UPDATE: transition tables need a
single-event trigger without a column list, so the UPDATE one fires on every UPDATE of attempts and
finds nothing to tally when no status changed) sum the statement's attempts per tenant, assessment
and person, read those people FOR SHARE in key order (as 0019's trigger read each one, so a person's
concurrent move and their start serialize), sum again per unit and category of the active ones, and
hand the sums to 0030's `tally_lock_units` (the units FOR SHARE, key order) and
`tally_participation_deltas` (each per-unit row and each ancestor's subtree row written once, key
order, in the writing backend's shard). The semantics are 0019's: an inserted attempt number 1 starts
its person; a person is submitted from their first submitted attempt of the assessment on. One
thing the row-level trigger got wrong inside one statement is now right: several submitted attempts
of one person inserted (or submitted) in one statement count the person once, not zero times (each
row saw the other as an earlier submission). An UPDATE tallies status changes only, as `UPDATE OF
status` did (`attempt_guard` forbids a submitted attempt to change back); an attempt's person,
assessment and number are not updated by anything. Deletes are not tallied, as before (attempts go
with their assessment, whose tallies go with it, or their person, and people are deactivated, not
deleted).

Whether a person had a submitted attempt before the statement is counted from the table (the
attempts_number_key index) minus the statement's own rows, not by a join of the transition tables by
id (no index, no statistics: 0030 found such a join took seconds at 10,000 rows).

A statement of one person's attempts (a start, a submission: the service's every write of attempts
but the deadline sweep) takes 0019's steps instead of the sums: the person FOR SHARE, then 0029's
`tally_participation` (the unit FOR SHARE, its row and its ancestors' subtree rows). The sums' three
queries over arrays cost a start about 0.2 ms more than the row-level trigger (median about 0.53
against 0.34 ms at load 7-8, more than doubling the trigger's own cost); with the short path a start
costs within about 0.06 ms of the row-level trigger's, a submission within 0.08 ms (bench/README.md,
"Attempts' tallies per statement").

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07
"""

from service.db.migration_sql import execute_script

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        DROP TRIGGER attempts_tally ON attempts;  -- its function stays, for the downgrade

        -- Deltas of started and submitted per tenant, assessment and person (each key once): the people
        -- read FOR SHARE in key order (a move of one waits for this transaction, or this waits for it and
        -- reads where they went), the active ones' deltas summed per unit and category and written once.
        CREATE FUNCTION tally_attempt_deltas(ts uuid[], assessments uuid[], persons uuid[], started integer[],
                                             submitted integer[]) RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            person record;
            p_ts uuid[];
            p_assessments uuid[];
            p_units uuid[];
            p_cats text[];
            p_started integer[];
            p_submitted integer[];
        BEGIN
            IF cardinality(persons) = 1 THEN
                -- One person (a start, a submission): 0019's steps, which cost a start less than the sums
                -- below (planned per call for one row). tally_participation reads the unit FOR SHARE.
                SELECT p.org_unit_id, p.category, p.active INTO person FROM people p
                WHERE p.tenant_id = ts[1] AND p.id = persons[1] FOR SHARE;
                IF person.active THEN
                    PERFORM tally_participation(ts[1], assessments[1], person.org_unit_id, person.category,
                                                started[1], submitted[1]);
                END IF;
                RETURN;
            END IF;
            SELECT array_agg(g.t), array_agg(g.a), array_agg(g.unit), array_agg(g.cat), array_agg(g.started),
                   array_agg(g.submitted)
            INTO p_ts, p_assessments, p_units, p_cats, p_started, p_submitted
            FROM (SELECT d.t, d.a, p.org_unit_id AS unit, p.category AS cat, sum(d.started)::integer AS started,
                         sum(d.submitted)::integer AS submitted
                  FROM unnest(ts, assessments, persons, started, submitted) AS d(t, a, person, started, submitted)
                  JOIN (SELECT p.tenant_id, p.id, p.org_unit_id, p.category, p.active FROM people p
                        WHERE (p.tenant_id, p.id) IN (SELECT k.t, k.person FROM unnest(ts, persons) AS k(t, person))
                        ORDER BY p.tenant_id, p.id FOR SHARE) p ON p.tenant_id = d.t AND p.id = d.person
                  WHERE p.active
                  GROUP BY 1, 2, 3, 4 HAVING sum(d.started) <> 0 OR sum(d.submitted) <> 0) g;
            IF p_ts IS NOT NULL THEN
                PERFORM tally_lock_units(p_ts, p_units);
                PERFORM tally_participation_deltas(p_ts, p_assessments, p_units, p_cats, p_started, p_submitted);
            END IF;
        END $$;

        -- The attempts a statement inserted: number 1 starts its person; a submitted one submits them
        -- unless they had a submitted attempt before the statement (more in the table than among these).
        CREATE FUNCTION attempts_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ts uuid[];
            assessments uuid[];
            persons uuid[];
            started integer[];
            submitted integer[];
        BEGIN
            SELECT array_agg(g.tenant_id), array_agg(g.assessment_id), array_agg(g.person_id),
                   array_agg(g.started), array_agg(g.submitted)
            INTO ts, assessments, persons, started, submitted
            FROM (SELECT n.tenant_id, n.assessment_id, n.person_id, n.started,
                         CASE WHEN n.submitted = 0 THEN 0
                              WHEN (SELECT count(*) FROM attempts o
                                    WHERE o.tenant_id = n.tenant_id AND o.assessment_id = n.assessment_id
                                      AND o.person_id = n.person_id AND o.status = 'submitted') > n.submitted THEN 0
                              ELSE 1 END AS submitted
                  FROM (SELECT tenant_id, assessment_id, person_id, count(*) FILTER (WHERE number = 1)::integer AS started,
                               count(*) FILTER (WHERE status = 'submitted')::integer AS submitted
                        FROM new_attempts GROUP BY 1, 2, 3) n) g
            WHERE g.started <> 0 OR g.submitted <> 0;
            IF ts IS NOT NULL THEN
                PERFORM tally_attempt_deltas(ts, assessments, persons, started, submitted);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER attempts_tally_insert AFTER INSERT ON attempts REFERENCING NEW TABLE AS new_attempts
            FOR EACH STATEMENT EXECUTE FUNCTION attempts_tally_insert();

        -- The attempts a statement updated: per person and assessment, the submitted attempts it added
        -- (new rows submitted minus old rows submitted: no join of old to new by id); a person with any is
        -- submitted now, and was before the statement if the table holds more than the statement added.
        CREATE FUNCTION attempts_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ts uuid[];
            assessments uuid[];
            persons uuid[];
            started integer[];
            submitted integer[];
        BEGIN
            SELECT array_agg(g.tenant_id), array_agg(g.assessment_id), array_agg(g.person_id),
                   array_agg(0), array_agg(g.submitted)
            INTO ts, assessments, persons, started, submitted
            FROM (SELECT k.tenant_id, k.assessment_id, k.person_id,
                         (c.held > 0)::integer - (c.held - k.added > 0)::integer AS submitted
                  FROM (SELECT tenant_id, assessment_id, person_id, sum(sign)::integer AS added
                        FROM (SELECT tenant_id, assessment_id, person_id, -1 AS sign FROM old_attempts
                              WHERE status = 'submitted'
                              UNION ALL
                              SELECT tenant_id, assessment_id, person_id, 1 FROM new_attempts
                              WHERE status = 'submitted') m
                        GROUP BY 1, 2, 3 HAVING sum(sign) <> 0) k
                  CROSS JOIN LATERAL (
                      SELECT count(*)::integer AS held FROM attempts o
                      WHERE o.tenant_id = k.tenant_id AND o.assessment_id = k.assessment_id
                        AND o.person_id = k.person_id AND o.status = 'submitted') c) g
            WHERE g.submitted <> 0;
            IF ts IS NOT NULL THEN
                PERFORM tally_attempt_deltas(ts, assessments, persons, started, submitted);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER attempts_tally_update AFTER UPDATE ON attempts
            REFERENCING OLD TABLE AS old_attempts NEW TABLE AS new_attempts
            FOR EACH STATEMENT EXECUTE FUNCTION attempts_tally_update();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER attempts_tally_update ON attempts;
        DROP TRIGGER attempts_tally_insert ON attempts;
        DROP FUNCTION attempts_tally_update(), attempts_tally_insert(),
                      tally_attempt_deltas(uuid[], uuid[], uuid[], integer[], integer[]);
        CREATE TRIGGER attempts_tally AFTER INSERT OR UPDATE OF status ON attempts
            FOR EACH ROW EXECUTE FUNCTION attempts_tally();
        """
    )
