"""Participation of a running sitting is read from tallies kept by triggers, not counted person by
person: `audience_tallies` holds the active people per org unit and category, and
`participation_tallies` per assessment, org unit and category how many active people have started
(have an attempt) and submitted (have a submitted attempt). An attempt's insert and submission and
a person's move (unit, category, active) keep them exact in the same transaction (an attempt's
trigger holds the person's row FOR SHARE, so a concurrent move and start serialize), so a
300,000-person audience is answered by summing a few thousand rows (service/delivery/participation.py,
bench/participation.py). No other table changes. Both tables are tenant tables (row-level security
forced, the app role reads and writes them only through its own tenant's context); the triggers run
as the writer, under the same policies. Existing people and attempts are tallied on upgrade.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- Active people per unit (null: in no unit) and category.
        CREATE TABLE audience_tallies (
            tenant_id   uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            org_unit_id uuid,
            category    text NOT NULL,
            people      integer NOT NULL,  -- no CHECK: an upsert's proposed row (a -1) is checked before its conflict
            CONSTRAINT audience_tallies_key UNIQUE NULLS NOT DISTINCT (tenant_id, org_unit_id, category)
        );

        -- Active people of a unit and category who started (any attempt) or submitted (any submitted
        -- attempt) an assessment.
        CREATE TABLE participation_tallies (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            assessment_id uuid NOT NULL,
            org_unit_id   uuid,
            category      text NOT NULL,
            started       integer NOT NULL,
            submitted     integer NOT NULL,
            CONSTRAINT participation_tallies_key
                UNIQUE NULLS NOT DISTINCT (tenant_id, assessment_id, org_unit_id, category),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );

        CREATE FUNCTION tally_audience(t uuid, unit uuid, cat text, delta integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO audience_tallies (tenant_id, org_unit_id, category, people) VALUES (t, unit, cat, delta)
            ON CONFLICT ON CONSTRAINT audience_tallies_key
            DO UPDATE SET people = audience_tallies.people + excluded.people
        $$;

        CREATE FUNCTION tally_participation(t uuid, a uuid, unit uuid, cat text, started integer,
                                            submitted integer) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO participation_tallies (tenant_id, assessment_id, org_unit_id, category, started, submitted)
            VALUES (t, a, unit, cat, started, submitted)
            ON CONFLICT ON CONSTRAINT participation_tallies_key
            DO UPDATE SET started = participation_tallies.started + excluded.started,
                          submitted = participation_tallies.submitted + excluded.submitted
        $$;

        -- A person counts where they are now: a move (unit, category, active) carries their tallies along.
        CREATE FUNCTION people_tally() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'UPDATE' THEN
                IF NEW.org_unit_id IS NOT DISTINCT FROM OLD.org_unit_id AND NEW.category = OLD.category
                        AND NEW.active = OLD.active THEN
                    RETURN NULL;
                END IF;
                IF OLD.active THEN
                    PERFORM tally_audience(OLD.tenant_id, OLD.org_unit_id, OLD.category, -1);
                    PERFORM tally_participation(OLD.tenant_id, s.assessment_id, OLD.org_unit_id, OLD.category,
                                                -1, -s.submitted)
                    FROM (SELECT assessment_id, max((status = 'submitted')::int) AS submitted FROM attempts
                          WHERE tenant_id = OLD.tenant_id AND person_id = OLD.id GROUP BY assessment_id) s;
                END IF;
                IF NEW.active THEN
                    PERFORM tally_participation(NEW.tenant_id, s.assessment_id, NEW.org_unit_id, NEW.category,
                                                1, s.submitted)
                    FROM (SELECT assessment_id, max((status = 'submitted')::int) AS submitted FROM attempts
                          WHERE tenant_id = NEW.tenant_id AND person_id = NEW.id GROUP BY assessment_id) s;
                END IF;
            END IF;
            IF NEW.active THEN
                PERFORM tally_audience(NEW.tenant_id, NEW.org_unit_id, NEW.category, 1);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER people_tally AFTER INSERT OR UPDATE OF org_unit_id, category, active ON people
            FOR EACH ROW EXECUTE FUNCTION people_tally();

        -- Attempt 1 starts a person; their first submitted attempt submits them (one attempt runs at a
        -- time, so no two submissions of one person race).
        CREATE FUNCTION attempts_tally() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            person record;
            d_started integer := CASE WHEN TG_OP = 'INSERT' AND NEW.number = 1 THEN 1 ELSE 0 END;
            d_submitted integer := 0;
        BEGIN
            IF NEW.status = 'submitted' AND (TG_OP = 'INSERT' OR OLD.status <> 'submitted')
                    AND NOT EXISTS (SELECT 1 FROM attempts o WHERE o.tenant_id = NEW.tenant_id
                                    AND o.assessment_id = NEW.assessment_id AND o.person_id = NEW.person_id
                                    AND o.status = 'submitted' AND o.id <> NEW.id) THEN
                d_submitted := 1;
            END IF;
            IF d_started + d_submitted = 0 THEN
                RETURN NULL;
            END IF;
            -- FOR SHARE: a move of this person waits for this transaction, and then sees its attempt; a
            -- move already under way is waited for, and its unit is the one read.
            SELECT org_unit_id, category, active INTO person FROM people
            WHERE tenant_id = NEW.tenant_id AND id = NEW.person_id FOR SHARE;
            IF person.active THEN
                PERFORM tally_participation(NEW.tenant_id, NEW.assessment_id, person.org_unit_id, person.category,
                                            d_started, d_submitted);
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER attempts_tally AFTER INSERT OR UPDATE OF status ON attempts
            FOR EACH ROW EXECUTE FUNCTION attempts_tally();

        INSERT INTO audience_tallies (tenant_id, org_unit_id, category, people)
        SELECT tenant_id, org_unit_id, category, count(*) FROM people WHERE active
        GROUP BY tenant_id, org_unit_id, category;

        INSERT INTO participation_tallies (tenant_id, assessment_id, org_unit_id, category, started, submitted)
        SELECT p.tenant_id, s.assessment_id, p.org_unit_id, p.category, count(*), sum(s.submitted)
        FROM (SELECT tenant_id, assessment_id, person_id, max((status = 'submitted')::int) AS submitted
              FROM attempts GROUP BY tenant_id, assessment_id, person_id) s
        JOIN people p ON p.tenant_id = s.tenant_id AND p.id = s.person_id
        WHERE p.active GROUP BY p.tenant_id, s.assessment_id, p.org_unit_id, p.category;
        """
    )
    tenant_tables("audience_tallies", "participation_tallies", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script(
        """
        DROP TRIGGER attempts_tally ON attempts;
        DROP TRIGGER people_tally ON people;
        DROP FUNCTION attempts_tally(), people_tally(), tally_participation(uuid, uuid, uuid, text, integer, integer),
                      tally_audience(uuid, uuid, text, integer);
        DROP TABLE participation_tallies, audience_tallies;
        """
    )
