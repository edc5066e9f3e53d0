"""Org units can be deactivated: an org-unit sync (`POST /v1/org-units/import?mode=sync`) marks the
units the HR system no longer sends inactive instead of deleting them, so their people, results
and rollups stay where they were. The table keeps its row-level security and grants.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from service.db.migration_sql import execute_script

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script("ALTER TABLE org_units ADD COLUMN active boolean NOT NULL DEFAULT true")


def downgrade() -> None:
    execute_script("ALTER TABLE org_units DROP COLUMN active")
