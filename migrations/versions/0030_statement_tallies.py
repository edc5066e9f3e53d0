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
0029's: only active people count; an update counts only if the unit, category or activity changed
(old and new rows joined by id), the person's old tallies leave where they were and their new ones
join where they are, with their attempts (started: any attempt; submitted: any submitted one);
deletes are not tallied (people are deactivated, not deleted); the subtree rows go to the writing
backend's shard (`pg_backend_pid() % 4`). The statement's units are read FOR SHARE first (in key
order), as `tally_lineage` does per row, so a subtree's move and a tally in it still serialize. Rows
are written in key order, so two bulk statements on the same units wait for each other instead of
deadlocking (the row-level trigger wrote them in the statements' row order).

Attempts keep 0019's row-level trigger: a start inserts one attempt and a submission updates one (the
deadline sweeper at most 100 of a whole tenant), and a statement-level trigger costs a single row
more (its transition table and the summing queries; bench/README.md). The org_units move trigger
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

        -- The people a statement moved (unit, category or activity changed; old and new rows joined by
        -- id): their tallies, and their attempts', leave where they were (if they were active: -1) and
        -- join where they are (if they are: +1).
        CREATE FUNCTION people_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            ts uuid[];
            units uuid[];
            cats text[];
            deltas integer[];
            assessments uuid[];
            p_started integer[];
            p_submitted integer[];
        BEGIN
            WITH c AS (
                SELECT o.id, o.tenant_id, o.org_unit_id AS old_unit, o.category AS old_category,
                       o.active AS was_active, n.org_unit_id AS new_unit, n.category AS new_category,
                       n.active AS is_active
                FROM old_people o JOIN new_people n ON n.id = o.id
                WHERE n.org_unit_id IS DISTINCT FROM o.org_unit_id OR n.category <> o.category
                      OR n.active <> o.active),
            m AS (SELECT tenant_id, old_unit AS unit, old_category AS category, -1 AS sign
                  FROM c WHERE was_active
                  UNION ALL
                  SELECT tenant_id, new_unit, new_category, 1 FROM c WHERE is_active)
            SELECT array_agg(g.tenant_id), array_agg(g.unit), array_agg(g.category), array_agg(g.delta)
            INTO ts, units, cats, deltas
            FROM (SELECT tenant_id, unit, category, sum(sign)::integer AS delta FROM m GROUP BY 1, 2, 3) g;
            IF ts IS NULL THEN
                RETURN NULL;
            END IF;
            PERFORM tally_lock_units(ts, units);  -- every unit a moved person's attempts may be tallied in
            PERFORM tally_audience_deltas(ts, units, cats, deltas);
            WITH c AS (
                SELECT o.id, o.tenant_id, o.org_unit_id AS old_unit, o.category AS old_category,
                       o.active AS was_active, n.org_unit_id AS new_unit, n.category AS new_category,
                       n.active AS is_active
                FROM old_people o JOIN new_people n ON n.id = o.id
                WHERE (o.active OR n.active) AND (n.org_unit_id IS DISTINCT FROM o.org_unit_id
                                                  OR n.category <> o.category OR n.active <> o.active)),
            s AS (SELECT a.tenant_id, a.person_id, a.assessment_id, max((a.status = 'submitted')::integer) AS submitted
                  FROM attempts a JOIN c ON a.tenant_id = c.tenant_id AND a.person_id = c.id
                  GROUP BY 1, 2, 3),
            m AS (SELECT c.tenant_id, s.assessment_id, c.old_unit AS unit, c.old_category AS category,
                         -1 AS sign, s.submitted
                  FROM c JOIN s ON s.tenant_id = c.tenant_id AND s.person_id = c.id WHERE c.was_active
                  UNION ALL
                  SELECT c.tenant_id, s.assessment_id, c.new_unit, c.new_category, 1, s.submitted
                  FROM c JOIN s ON s.tenant_id = c.tenant_id AND s.person_id = c.id WHERE c.is_active)
            SELECT array_agg(g.tenant_id), array_agg(g.assessment_id), array_agg(g.unit), array_agg(g.category),
                   array_agg(g.started), array_agg(g.submitted)
            INTO ts, assessments, units, cats, p_started, p_submitted
            FROM (SELECT tenant_id, assessment_id, unit, category, sum(sign)::integer AS started,
                         sum(sign * submitted)::integer AS submitted
                  FROM m GROUP BY 1, 2, 3, 4) g;
            IF ts IS NOT NULL THEN
                PERFORM tally_participation_deltas(ts, assessments, units, cats, p_started, p_submitted);
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
