"""Item statistics runs: a job computes them over an assessment's final scores and keeps the result.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from alembic import op

from service.db.migration_sql import execute_script

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TENANT = "NULLIF(current_setting('app.tenant_id', true), '')::uuid"


def _app_role() -> str:
    role = op.get_context().config.attributes["app_role"]
    return '"' + role.replace('"', '""') + '"'


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE statistics_runs (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id uuid NOT NULL,
            status        text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed')),
            total         integer NOT NULL DEFAULT 0,
            processed     integer NOT NULL DEFAULT 0,
            result        jsonb,
            error         text,
            requested_by  text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        ALTER TABLE statistics_runs ENABLE ROW LEVEL SECURITY;
        ALTER TABLE statistics_runs FORCE ROW LEVEL SECURITY;
        CREATE POLICY tenant_isolation ON statistics_runs
            USING (tenant_id = {TENANT}) WITH CHECK (tenant_id = {TENANT});
        GRANT SELECT, INSERT, UPDATE ON statistics_runs TO {_app_role()};
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE statistics_runs")
