"""Item statistics runs: a job computes them over an assessment's final scores and keeps the result.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


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
        """
    )
    tenant_tables("statistics_runs", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script("DROP TABLE statistics_runs")
