"""IRT calibrations of an assessment: a job (kind 'calibration') fits every top-level dimension's items
over the final current scores and keeps the result; a done draft is reviewed, then published. A
published calibration is immutable (trigger `calibration_guard`): what uses it pins it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

_KINDS = "'rescoring', 'item_statistics', 'aggregates', 'score_export'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE calibrations (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id uuid NOT NULL,
            state         text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'published')),
            status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
            total         integer NOT NULL DEFAULT 0,
            processed     integer NOT NULL DEFAULT 0,
            result        jsonb,
            error         text,
            requested_by  text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz,
            published_at  timestamptz,
            published_by  text,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE,
            CHECK ((state = 'published') = (published_at IS NOT NULL AND published_by IS NOT NULL)),
            CHECK (state = 'draft' OR (status = 'done' AND result IS NOT NULL))
        );
        CREATE INDEX calibrations_by_assessment ON calibrations (tenant_id, assessment_id, created_at DESC, id DESC);

        CREATE FUNCTION calibration_guard() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.state = 'published' THEN
                RAISE EXCEPTION 'calibration % is published and cannot change', OLD.id
                    USING ERRCODE = 'object_not_in_prerequisite_state';
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER calibration_guard BEFORE UPDATE ON calibrations
            FOR EACH ROW EXECUTE FUNCTION calibration_guard();

        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}, 'calibration'));
        """
    )
    tenant_tables("calibrations", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script(
        f"""
        DO $$
        DECLARE t uuid;
        BEGIN  -- row-level security is forced: tenant by tenant
            FOR t IN SELECT DISTINCT tenant_id FROM jobs WHERE kind = 'calibration' LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                DELETE FROM jobs WHERE kind = 'calibration';
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true);
        END $$;
        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}));
        DROP TABLE calibrations;
        DROP FUNCTION calibration_guard();
        """
    )
