"""Aggregates: each person's counted result per assessment, rollups per org unit subtree, rebuild jobs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- The privacy threshold k and the calendar that weeks and months are counted in.
        ALTER TABLE tenants
            ADD COLUMN min_group_size integer NOT NULL DEFAULT 5 CHECK (min_group_size BETWEEN 2 AND 1000),
            ADD COLUMN timezone text NOT NULL DEFAULT 'Asia/Shanghai' CHECK (length(timezone) BETWEEN 1 AND 64);

        -- Where a submitted attempt counts: the person's org unit and category when it was submitted
        -- (a later move does not carry past results along). Recorded by the database on every path
        -- that submits (candidate, deadline, sweep).
        ALTER TABLE attempts ADD COLUMN org_unit_id uuid, ADD COLUMN category text;
        CREATE FUNCTION attempt_attribution() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            SELECT p.org_unit_id, p.category INTO NEW.org_unit_id, NEW.category
            FROM people p WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.person_id;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER attempt_attribution BEFORE UPDATE OF status ON attempts FOR EACH ROW
            WHEN (OLD.status = 'in_progress' AND NEW.status = 'submitted') EXECUTE FUNCTION attempt_attribution();

        -- Per person and assessment, the result that counts in aggregates: their latest attempt with
        -- a final score. A row with no attempt is a placeholder that serialises concurrent updates.
        CREATE TABLE results (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            assessment_id uuid NOT NULL,
            person_id     uuid NOT NULL,
            attempt_id    uuid,
            org_unit_id   uuid,
            category      text,
            week          date,
            measures      text[] NOT NULL DEFAULT '{{}}',
            scaled        double precision[] NOT NULL DEFAULT '{{}}',
            level_ranks   smallint[] NOT NULL DEFAULT '{{}}',
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, assessment_id, person_id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, org_unit_id) REFERENCES org_units (tenant_id, id),
            CHECK (cardinality(measures) = cardinality(scaled) AND cardinality(measures) = cardinality(level_ranks))
        );
        CREATE INDEX results_person ON results (tenant_id, person_id);
        CREATE INDEX results_unit ON results (tenant_id, org_unit_id);

        -- Sums over a unit's whole subtree (unit_id = the zero uuid: the whole tenant), per category,
        -- ISO week and measure (a dimension code or 'overall'). hist counts scaled scores in 100
        -- one-point bins; levels counts people per proficiency level rank.
        CREATE TABLE rollups (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            assessment_id uuid NOT NULL,
            unit_id       uuid NOT NULL,
            measure       text NOT NULL,
            category      text NOT NULL,
            week          date NOT NULL,
            n             integer NOT NULL,
            total         double precision NOT NULL,
            total_sq      double precision NOT NULL,
            hist          integer[] NOT NULL,
            levels        integer[] NOT NULL,
            PRIMARY KEY (tenant_id, assessment_id, unit_id, measure, category, week),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX rollups_unit ON rollups (tenant_id, unit_id);

        CREATE FUNCTION int_array_add(a integer[], b integer[]) RETURNS integer[]
            LANGUAGE sql IMMUTABLE PARALLEL SAFE
            AS $$ SELECT coalesce(array_agg(coalesce(x, 0) + coalesce(y, 0) ORDER BY i), '{{}}')
                  FROM unnest(a, b) WITH ORDINALITY AS t(x, y, i) $$;

        -- A dense count array from sparse (index, count) pairs: a histogram built by GROUP BY.
        CREATE FUNCTION int_hist(bins integer[], counts integer[], width integer) RETURNS integer[]
            LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
        DECLARE
            out integer[] := array_fill(0, ARRAY[width]);
        BEGIN
            FOR i IN 1 .. coalesce(array_length(bins, 1), 0) LOOP
                out[bins[i] + 1] := out[bins[i] + 1] + counts[i];
            END LOOP;
            RETURN out;
        END
        $$;

        -- Rebuilds and checks of an assessment's rollups.
        CREATE TABLE aggregate_jobs (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id uuid NOT NULL,
            kind          text NOT NULL CHECK (kind IN ('rebuild', 'check')),
            status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
            phase         text NOT NULL DEFAULT 'queued',
            result        jsonb,
            error         text,
            requested_by  text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    tenant_tables("results", "rollups")
    tenant_tables("aggregate_jobs", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script(
        """DROP TABLE aggregate_jobs, rollups, results; DROP FUNCTION int_array_add(integer[], integer[]);
        DROP FUNCTION int_hist(integer[], integer[], integer);
        DROP TRIGGER attempt_attribution ON attempts; DROP FUNCTION attempt_attribution();
        ALTER TABLE attempts DROP COLUMN org_unit_id, DROP COLUMN category;
        ALTER TABLE tenants DROP COLUMN min_group_size, DROP COLUMN timezone"""
    )
