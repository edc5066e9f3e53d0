"""Rescoring jobs: a preview, then a commit that rescores every submitted attempt of an assessment.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- `pins` are the item and framework versions scoring uses from this rescoring on (the
        -- delivery pins of the published assessment never change). The latest committed
        -- rescoring of an assessment is the one in force.
        CREATE TABLE rescorings (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id uuid NOT NULL,
            reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
            requested_by  text NOT NULL,
            pins          jsonb NOT NULL,
            status        text NOT NULL DEFAULT 'previewing'
                          CHECK (status IN ('previewing', 'previewed', 'running', 'done', 'failed')),
            total         integer NOT NULL DEFAULT 0,
            processed     integer NOT NULL DEFAULT 0,
            changed       integer NOT NULL DEFAULT 0,
            summary       jsonb,
            error         text,
            created_at    timestamptz NOT NULL DEFAULT now(),
            committed_at  timestamptz,
            committed_by  text,
            finished_at   timestamptz,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX rescorings_in_force ON rescorings (tenant_id, assessment_id, committed_at DESC)
            WHERE committed_at IS NOT NULL;
        """
    )
    tenant_tables("rescorings", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script("DROP TABLE rescorings")
