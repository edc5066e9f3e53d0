"""Rating of open responses: one task per answered open-response item, and raters' ratings.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- A task's id is all a rater sees of the attempt: never the candidate or the attempt id.
        CREATE TABLE rating_tasks (
            tenant_id    uuid NOT NULL DEFAULT {TENANT},
            id           uuid NOT NULL DEFAULT gen_random_uuid(),
            attempt_id   uuid NOT NULL,
            item_ref     text NOT NULL,
            status       text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'agreed')),
            agreed_value double precision,
            agreed_at    timestamptz,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT rating_tasks_item_key UNIQUE (tenant_id, attempt_id, item_ref),
            FOREIGN KEY (tenant_id, attempt_id) REFERENCES attempts (tenant_id, id) ON DELETE CASCADE,
            CHECK ((status = 'agreed') = (agreed_value IS NOT NULL))
        );
        CREATE INDEX rating_tasks_open ON rating_tasks (tenant_id, created_at) WHERE status = 'open';

        CREATE TABLE ratings (
            tenant_id  uuid NOT NULL DEFAULT {TENANT},
            id         uuid NOT NULL DEFAULT gen_random_uuid(),
            task_id    uuid NOT NULL,
            rater      text NOT NULL,
            value      integer NOT NULL CHECK (value >= 0),
            comment    text CHECK (length(comment) <= 4000),
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT ratings_rater_key UNIQUE (tenant_id, task_id, rater),
            FOREIGN KEY (tenant_id, task_id) REFERENCES rating_tasks (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    tenant_tables("rating_tasks", "ratings", privileges="SELECT, INSERT, UPDATE")


def downgrade() -> None:
    execute_script("DROP TABLE ratings, rating_tasks")
