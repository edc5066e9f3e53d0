"""People's tallies per statement: 0019's row-level trigger on `people` tallied each inserted or moved
person alone, and since 0029 each call also updates the unit's ancestors' subtree rows, so 10,000
people inserted in one statement (a bulk request's most) updated the same few ancestor rows 10,000
times in one transaction, each update walking the version chain of the earlier ones: 11-12 s instead
of 1.2 s at 0028 (bench/README.md).

Now two statement-level triggers on `people` (one for INSERT, one for UPDATE: PostgreSQL allows
transition tables only on a single-event trigger, and not with a column list) sum the statement's
rows per tenant, unit and category (and assessment, for the people's attempts) and write each tally
row once, per unit and per subtree for every ancestor, by `INSERT ... ON CONFLICT DO UPDATE` of the
summed deltas (`tally_audience_deltas`, `tally_participation_deltas`). The semantics are 0019's and
0029's: only active people count; an updated person's old tallies (and their attempts': started, any
attempt; submitted, any submitted one) leave where they were and their new ones join where they are,
so one whose unit, category and activity stayed adds nothing (the -1 and +1 cancel in the sums; rows
summing to zero are not written); deletes are not tallied (people are deactivated, not deleted);
the subtree rows go to the writing backend's shard (`pg_backend_pid() % 4`). The statement's units are read FOR SHARE first (in key
order), as `tally_lineage` does per row, so a subtree's move and a tally in it still serialize. Rows
are written in key order, so two bulk statements on the same units wait for each other instead of
deadlocking (the row-level trigger wrote them in the statements' row order).

Attempts keep 0019's row-level trigger: a start inserts one attempt and a submission updates one (the
deadline sweeper at most 100 of a whole tenant), so there is nothing to sum, and a statement-level
trigger would add a transition table and its summing queries to every start. The org_units move trigger
(0029) is unchanged. No table changes.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07
"""

from service.db.migration_sql import execute_script

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        """
        -- Deltas of people per tenant, unit (null: none) and category, any order and repetition: each
        -- per-unit row and each subtree row of every ancestor written once, in key order. The caller
        -- has read the units FOR SHARE (tally_lock_units).
        CREATE FUNCTION tally_audience_deltas(ts uuid[], units uuid[], cats text[], deltas integer[])
        RETURNS void LANGUAGE sql AS $$
            INSERT INTO audience_tallies AS a (tenant_id, org_unit_id, category, people)
            SELECT d.t, d.unit, d.cat, sum(d.delta) FROM unnest(ts, units, cats, deltas) AS d(t, unit, cat, delta)
            GROUP BY 1, 2, 3 HAVING sum(d.delta) <> 0 ORDER BY 1, 2 NULLS FIRST, 3
            ON CONFLICT ON CONSTRAINT audience_tallies_key DO UPDATE SET people = a.people + excluded.people;
            INSERT INTO audience_subtree_tallies AS s (tenant_id, org_unit_id, category, shard, people)
            SELECT d.t, l.id, d.cat, pg_backend_pid() % 4, sum(d.delta)
            FROM unnest(ts, units, cats, deltas) AS d(t, unit, cat, delta)
            JOIN org_units u ON u.tenant_id = d.t AND u.id = d.unit
            CROSS JOIN unnest(string_to_array(btrim(u.path, '/'), '/')::uuid[]) AS l(id)
            GROUP BY 1, 2, 3 HAVING sum(d.delta) <> 0 ORDER BY 1, 2, 3
            ON CONFLICT (tenant_id, org_unit_id, category, shard) DO UPDATE SET people = s.people + excluded.people;
        $$;

        -- The same for who started and submitted an assessment.
        CREATE FUNCTION tally_participation_deltas(ts uuid[], assessments uuid[], units uuid[], cats text[],
                                                   started integer[], submitted integer[])
        RETURNS void LANGUAGE sql AS $$
            INSERT INTO participation_tallies AS p
                (tenant_id, assessment_id, org_unit_id, category, started, submitted)
            SELECT d.t, d.a, d.unit, d.cat, sum(d.started), sum(d.submitted)
            FROM unnest(ts, assessments, units, cats, started, submitted) AS d(t, a, unit, cat, started, submitted)
            GROUP BY 1, 2, 3, 4 HAVING sum(d.started) <> 0 OR sum(d.submitted) <> 0
            ORDER BY 1, 2, 3 NULLS FIRST, 4
            ON CONFLICT ON CONSTRAINT participation_tallies_key
            DO UPDATE SET started = p.started + excluded.started, submitted = p.submitted + excluded.submitted;
            INSERT INTO participation_subtree_tallies AS s
                (tenant_id, assessment_id, org_unit_id, category, shard, started, submitted)
            SELECT d.t, d.a, l.id, d.cat, pg_backend_pid() % 4, sum(d.started), sum(d.submitted)
            FROM unnest(ts, assessments, units, cats, started, submitted) AS d(t, a, unit, cat, started, submitted)
            JOIN org_units u ON u.tenant_id = d.t AND u.id = d.unit
            CROSS JOIN unnest(string_to_array(btrim(u.path, '/'), '/')::uuid[]) AS l(id)
            GROUP BY 1, 2, 3, 4 HAVING sum(d.started) <> 0 OR sum(d.submitted) <> 0 ORDER BY 1, 2, 3, 4
            ON CONFLICT (tenant_id, assessment_id, org_unit_id, category, shard)
            DO UPDATE SET started = s.started + excluded.started, submitted = s.submitted + excluded.submitted;
        $$;

        -- The statement's units FOR SHARE, in key order (before any tally row is written): a move of one's
        -- subtree (which rewrites its path) waits for this transaction, or this waits for it and the
        -- statements that follow read the new path.
        CREATE FUNCTION tally_lock_units(ts uuid[], units uuid[]) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM FROM org_units u
            WHERE (u.tenant_id, u.id) IN (SELECT k.t, k.unit FROM unnest(ts, units) AS k(t, unit))
            ORDER BY u.tenant_id, u.id FOR SHARE OF u;
        END $$;

        DROP TRIGGER people_tally ON people;  -- its function stays, for the downgrade

        -- The people a statement inserted, the active ones tallied where they are.
        CREATE FUNCTION people_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ts uuid[];
            units uuid[];
            cats text[];
            deltas integer[];
        BEGIN
            SELECT array_agg(g.tenant_id), array_agg(g.org_unit_id), array_agg(g.category), array_agg(g.n)
            INTO ts, units, cats, deltas
            FROM (SELECT tenant_id, org_unit_id, category, count(*)::integer AS n FROM new_people WHERE active
                  GROUP BY 1, 2, 3) g;
            IF ts IS NOT NULL THEN
                PERFORM tally_lock_units(ts, units);
                PERFORM tally_audience_deltas(ts, units, cats, deltas);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER people_tally_insert AFTER INSERT ON people REFERENCING NEW TABLE AS new_people
            FOR EACH STATEMENT EXECUTE FUNCTION people_tally_insert();

        -- The people a statement updated: their tallies, and their attempts', leave where they were (if
        -- they were active: -1) and join where they are (if they are: +1). A person whose unit, category
        -- and activity stayed adds nothing (their -1 and +1 cancel in the sums, and rows summing to zero
        -- are not written): no join of the old rows to the new by id, whose plan over transition tables
        -- (no statistics) took seconds for 10,000 rows.
        CREATE FUNCTION people_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ts uuid[];
            units uuid[];
            cats text[];
            deltas integer[];
            p_ts uuid[];
            p_assessments uuid[];
            p_units uuid[];
            p_cats text[];
            p_started integer[];
            p_submitted integer[];
        BEGIN
            SELECT array_agg(g.tenant_id), array_agg(g.org_unit_id), array_agg(g.category), array_agg(g.delta)
            INTO ts, units, cats, deltas
            FROM (SELECT tenant_id, org_unit_id, category, sum(sign)::integer AS delta
                  FROM (SELECT tenant_id, org_unit_id, category, -1 AS sign FROM old_people WHERE active
                        UNION ALL
                        SELECT tenant_id, org_unit_id, category, 1 FROM new_people WHERE active) m
                  GROUP BY 1, 2, 3 HAVING sum(sign) <> 0) g;
            -- Each person's attempts looked up by person (the attempts_person index), as the row-level
            -- trigger did.
            SELECT array_agg(g.tenant_id), array_agg(g.assessment_id), array_agg(g.org_unit_id),
                   array_agg(g.category), array_agg(g.started), array_agg(g.submitted)
            INTO p_ts, p_assessments, p_units, p_cats, p_started, p_submitted
            FROM (SELECT tenant_id, assessment_id, org_unit_id, category, sum(sign)::integer AS started,
                         sum(sign * submitted)::integer AS submitted
                  FROM (SELECT p.tenant_id, p.org_unit_id, p.category, p.id, -1 AS sign FROM old_people p
                        WHERE p.active
                        UNION ALL
                        SELECT p.tenant_id, p.org_unit_id, p.category, p.id, 1 FROM new_people p
                        WHERE p.active) m
                  CROSS JOIN LATERAL (
                      SELECT a.assessment_id, max((a.status = 'submitted')::integer) AS submitted FROM attempts a
                      WHERE a.tenant_id = m.tenant_id AND a.person_id = m.id GROUP BY a.assessment_id) s
                  GROUP BY 1, 2, 3, 4 HAVING sum(sign) <> 0 OR sum(sign * submitted) <> 0) g;
            IF ts IS NULL AND p_ts IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM tally_lock_units(coalesce(ts, '{}') || coalesce(p_ts, '{}'),
                                     coalesce(units, '{}') || coalesce(p_units, '{}'));
            IF ts IS NOT NULL THEN
                PERFORM tally_audience_deltas(ts, units, cats, deltas);
            END IF;
            IF p_ts IS NOT NULL THEN
                PERFORM tally_participation_deltas(p_ts, p_assessments, p_units, p_cats, p_started, p_submitted);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER people_tally_update AFTER UPDATE ON people
            REFERENCING OLD TABLE AS old_people NEW TABLE AS new_people
            FOR EACH STATEMENT EXECUTE FUNCTION people_tally_update();
        """
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER people_tally_update ON people;
        DROP TRIGGER people_tally_insert ON people;
        DROP FUNCTION people_tally_update(), people_tally_insert(), tally_lock_units(uuid[], uuid[]),
                      tally_participation_deltas(uuid[], uuid[], uuid[], text[], integer[], integer[]),
                      tally_audience_deltas(uuid[], uuid[], text[], integer[]);
        CREATE TRIGGER people_tally AFTER INSERT OR UPDATE OF org_unit_id, category, active ON people
            FOR EACH ROW EXECUTE FUNCTION people_tally();
        """
    )
