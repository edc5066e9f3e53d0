"""Webhooks: the previous signing secret stays in force for a while after a rotation; old events
are deleted after a retention period.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""

from service.db.migration_sql import execute_script

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

DISPATCHER = "current_setting('app.dispatcher', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        -- During a rotation deliveries are signed with both secrets (Standard Webhooks allows
        -- several signatures in one header), so a receiver can switch at its own pace.
        ALTER TABLE webhook_endpoints ADD COLUMN previous_secret text,
                                      ADD COLUMN previous_valid_until timestamptz;
        -- Retention: the dispatcher finds the tenants with old events, then deletes them inside
        -- each tenant (deliveries go with their event).
        CREATE INDEX webhook_events_age ON webhook_events (created_at);
        CREATE POLICY dispatcher ON webhook_events FOR SELECT USING ({DISPATCHER});
        """
    )


def downgrade() -> None:
    execute_script(
        """DROP POLICY dispatcher ON webhook_events; DROP INDEX webhook_events_age;
        ALTER TABLE webhook_endpoints DROP COLUMN previous_secret, DROP COLUMN previous_valid_until"""
    )
