"""Ratings: corrections kept as history, and tenant admins' allocation of rating tasks to raters.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- A rating is corrected in place (its id, and its place in the order of ratings, stay); every
        -- value it replaced is kept in rating_corrections, never lost.
        ALTER TABLE ratings ADD COLUMN revision integer NOT NULL DEFAULT 1 CHECK (revision >= 1),
                            ADD COLUMN corrected_at timestamptz;

        -- One row per replaced value: what revision `revision` of the rating said, and since when.
        CREATE TABLE rating_corrections (
            tenant_id   uuid NOT NULL DEFAULT {TENANT},
            rating_id   uuid NOT NULL,
            revision    integer NOT NULL CHECK (revision >= 1),
            value       integer NOT NULL CHECK (value >= 0),
            comment     text CHECK (length(comment) <= 4000),
            given_at    timestamptz NOT NULL,
            replaced_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (tenant_id, rating_id, revision),
            FOREIGN KEY (tenant_id, rating_id) REFERENCES ratings (tenant_id, id) ON DELETE CASCADE
        );

        -- A task reserved for a rater by a tenant admin: one rating slot of the task is theirs.
        CREATE TABLE rating_allocations (
            tenant_id    uuid NOT NULL DEFAULT {TENANT},
            task_id      uuid NOT NULL,
            rater        text NOT NULL,
            allocated_by text NOT NULL,
            created_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, task_id, rater),
            FOREIGN KEY (tenant_id, task_id) REFERENCES rating_tasks (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX rating_allocations_rater ON rating_allocations (tenant_id, rater);
        """
    )
    tenant_tables("rating_corrections", privileges="SELECT, INSERT")
    tenant_tables("rating_allocations", privileges="SELECT, INSERT, DELETE")


def downgrade() -> None:
    execute_script(
        """DROP TABLE rating_allocations, rating_corrections;
           ALTER TABLE ratings DROP COLUMN corrected_at, DROP COLUMN revision"""
    )
