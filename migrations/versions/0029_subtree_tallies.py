"""Participation tallies per subtree: the per-unit tallies of 0019 made a whole province's answer add
every village's rows (about 40,000 rows joined to 21,000 units, bench/README.md). Now each unit also
has a row for its whole subtree (the people of the unit and of every unit below it):
`audience_subtree_tallies` (active people per unit's subtree, category and shard) and
`participation_subtree_tallies` (per assessment, too: who started and submitted), so an answer reads
one row per child unit, category and shard (service/delivery/participation.py).

Every change 0019's triggers tally (a person's insert or move, an attempt's start or first
submission) now moves its unit's ancestors' subtree rows too (`tally_audience` and
`tally_participation`, same signatures, so the triggers stay as they are). Each subtree row is split
over four shards, the one the writing backend picks (`pg_backend_pid() % 4`), so a province's starts
do not all queue on its top row; a shard's value alone means nothing (a person counted in one may
leave from another), only the sum over shards. The unit's row is read FOR SHARE when its ancestors
are looked up, so a subtree's move (which rewrites the unit's path) and a tally in it serialize.
A unit's move (its path's parent changes) carries its subtree rows from the ancestors it leaves to
the ones it joins, in a trigger on org_units, whoever moves it. Existing tallies are summed into the
subtree rows on upgrade (shard 0). Both tables are tenant tables, like 0019's.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE audience_subtree_tallies (
            tenant_id   uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            org_unit_id uuid NOT NULL,
            category    text NOT NULL,
            shard       smallint NOT NULL,
            people      integer NOT NULL,
            PRIMARY KEY (tenant_id, org_unit_id, category, shard)
        );

        CREATE TABLE participation_subtree_tallies (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            assessment_id uuid NOT NULL,
            org_unit_id   uuid NOT NULL,
            category      text NOT NULL,
            shard         smallint NOT NULL,
            started       integer NOT NULL,
            submitted     integer NOT NULL,
            PRIMARY KEY (tenant_id, assessment_id, org_unit_id, category, shard),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );

        -- The unit and its ancestors (top first); null for no unit. FOR SHARE: a move of the unit's
        -- subtree rewrites its path, so it waits for this transaction, or this waits for it and reads
        -- the new path.
        CREATE FUNCTION tally_lineage(t uuid, unit uuid) RETURNS uuid[] LANGUAGE sql AS $$
            SELECT string_to_array(btrim(path, '/'), '/')::uuid[] FROM org_units
            WHERE tenant_id = t AND id = unit FOR SHARE
        $$;

        CREATE OR REPLACE FUNCTION tally_audience(t uuid, unit uuid, cat text, delta integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO audience_tallies (tenant_id, org_unit_id, category, people) VALUES (t, unit, cat, delta)
            ON CONFLICT ON CONSTRAINT audience_tallies_key
            DO UPDATE SET people = audience_tallies.people + excluded.people;
            INSERT INTO audience_subtree_tallies AS s (tenant_id, org_unit_id, category, shard, people)
            SELECT t, a.id, cat, pg_backend_pid() % 4, delta FROM unnest(tally_lineage(t, unit)) AS a(id)
            ON CONFLICT (tenant_id, org_unit_id, category, shard) DO UPDATE SET people = s.people + excluded.people;
        $$;

        CREATE OR REPLACE FUNCTION tally_participation(t uuid, a uuid, unit uuid, cat text, started integer,
                                                       submitted integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO participation_tallies (tenant_id, assessment_id, org_unit_id, category, started, submitted)
            VALUES (t, a, unit, cat, started, submitted)
            ON CONFLICT ON CONSTRAINT participation_tallies_key
            DO UPDATE SET started = participation_tallies.started + excluded.started,
                          submitted = participation_tallies.submitted + excluded.submitted;
            INSERT INTO participation_subtree_tallies AS s
                (tenant_id, assessment_id, org_unit_id, category, shard, started, submitted)
            SELECT t, a, l.id, cat, pg_backend_pid() % 4, started, submitted
            FROM unnest(tally_lineage(t, unit)) AS l(id)
            ON CONFLICT (tenant_id, assessment_id, org_unit_id, category, shard)
            DO UPDATE SET started = s.started + excluded.started, submitted = s.submitted + excluded.submitted;
        $$;

        -- A unit moved with its subtree: its path's parent changed (its descendants' paths change too,
        -- but not their parents: their rows are inside the moved unit's and move with it). The moved
        -- unit's subtree rows leave the ancestors it left and join the ones it joined.
        CREATE FUNCTION org_units_tally_move() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            old_line uuid[] := string_to_array(btrim(OLD.path, '/'), '/')::uuid[];
            new_line uuid[] := string_to_array(btrim(NEW.path, '/'), '/')::uuid[];
        BEGIN
            IF old_line[cardinality(old_line) - 1] IS NOT DISTINCT FROM new_line[cardinality(new_line) - 1] THEN
                RETURN NULL;
            END IF;
            WITH m (id, sign) AS (
                SELECT o.id, -1 FROM unnest(old_line[1:cardinality(old_line) - 1]) AS o(id) WHERE o.id <> ALL(new_line)
                UNION ALL
                SELECT n.id, 1 FROM unnest(new_line[1:cardinality(new_line) - 1]) AS n(id) WHERE n.id <> ALL(old_line))
            INSERT INTO audience_subtree_tallies AS s (tenant_id, org_unit_id, category, shard, people)
            SELECT x.tenant_id, m.id, x.category, x.shard, m.sign * x.people
            FROM audience_subtree_tallies x CROSS JOIN m
            WHERE x.tenant_id = NEW.tenant_id AND x.org_unit_id = NEW.id
            ON CONFLICT (tenant_id, org_unit_id, category, shard) DO UPDATE SET people = s.people + excluded.people;
            WITH m (id, sign) AS (
                SELECT o.id, -1 FROM unnest(old_line[1:cardinality(old_line) - 1]) AS o(id) WHERE o.id <> ALL(new_line)
                UNION ALL
                SELECT n.id, 1 FROM unnest(new_line[1:cardinality(new_line) - 1]) AS n(id) WHERE n.id <> ALL(old_line))
            INSERT INTO participation_subtree_tallies AS s
                (tenant_id, assessment_id, org_unit_id, category, shard, started, submitted)
            SELECT x.tenant_id, x.assessment_id, m.id, x.category, x.shard, m.sign * x.started, m.sign * x.submitted
            FROM participation_subtree_tallies x CROSS JOIN m
            WHERE x.tenant_id = NEW.tenant_id AND x.org_unit_id = NEW.id
            ON CONFLICT (tenant_id, assessment_id, org_unit_id, category, shard)
            DO UPDATE SET started = s.started + excluded.started, submitted = s.submitted + excluded.submitted;
            RETURN NULL;
        END $$;
        CREATE TRIGGER org_units_tally_move AFTER UPDATE OF path ON org_units
            FOR EACH ROW WHEN (OLD.path IS DISTINCT FROM NEW.path) EXECUTE FUNCTION org_units_tally_move();

        INSERT INTO audience_subtree_tallies (tenant_id, org_unit_id, category, shard, people)
        SELECT t.tenant_id, a.id, t.category, 0, sum(t.people)
        FROM audience_tallies t JOIN org_units u ON u.tenant_id = t.tenant_id AND u.id = t.org_unit_id
        CROSS JOIN unnest(string_to_array(btrim(u.path, '/'), '/')::uuid[]) AS a(id)
        GROUP BY 1, 2, 3;

        INSERT INTO participation_subtree_tallies
            (tenant_id, assessment_id, org_unit_id, category, shard, started, submitted)
        SELECT t.tenant_id, t.assessment_id, a.id, t.category, 0, sum(t.started), sum(t.submitted)
        FROM participation_tallies t JOIN org_units u ON u.tenant_id = t.tenant_id AND u.id = t.org_unit_id
        CROSS JOIN unnest(string_to_array(btrim(u.path, '/'), '/')::uuid[]) AS a(id)
        GROUP BY 1, 2, 3, 4;
        """
    )
    tenant_tables(
        "audience_subtree_tallies", "participation_subtree_tallies", privileges="SELECT, INSERT, UPDATE"
    )


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER org_units_tally_move ON org_units;
        DROP FUNCTION org_units_tally_move();
        CREATE OR REPLACE FUNCTION tally_audience(t uuid, unit uuid, cat text, delta integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO audience_tallies (tenant_id, org_unit_id, category, people) VALUES (t, unit, cat, delta)
            ON CONFLICT ON CONSTRAINT audience_tallies_key
            DO UPDATE SET people = audience_tallies.people + excluded.people
        $$;
        CREATE OR REPLACE FUNCTION tally_participation(t uuid, a uuid, unit uuid, cat text, started integer,
                                                       submitted integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO participation_tallies (tenant_id, assessment_id, org_unit_id, category, started, submitted)
            VALUES (t, a, unit, cat, started, submitted)
            ON CONFLICT ON CONSTRAINT participation_tallies_key
            DO UPDATE SET started = participation_tallies.started + excluded.started,
                          submitted = participation_tallies.submitted + excluded.submitted
        $$;
        DROP FUNCTION tally_lineage(uuid, uuid);
        DROP TABLE participation_subtree_tallies, audience_subtree_tallies;
        """
    )
