"""xAPI to a learning record store: a tenant's LRS settings and the statements queued for it.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

DISPATCHER = "current_setting('app.dispatcher', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        -- At most one LRS per tenant. The basic-auth secret is kept like a webhook's signing
        -- secret (the service must present it) and is never returned.
        CREATE TABLE lrs_endpoints (
            tenant_id  uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            url        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
            key        text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
            secret     text NOT NULL CHECK (length(secret) BETWEEN 1 AND 500),
            home_page  text NOT NULL CHECK (length(home_page) BETWEEN 1 AND 2000),
            active     boolean NOT NULL DEFAULT true,
            created_by text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id)
        );

        -- The statements, written in the transaction that makes them true (the outbox), each
        -- under its deterministic id, with its delivery state; the statement is built once, so a
        -- redelivery sends the same bytes and the LRS can recognise it.
        CREATE TABLE lrs_statements (
            tenant_id       uuid NOT NULL DEFAULT {TENANT},
            id              uuid NOT NULL,
            verb            text NOT NULL CHECK (verb IN ('attempted', 'completed', 'scored', 'voided')),
            attempt_id      uuid NOT NULL,
            score_version   integer,
            statement       jsonb NOT NULL,
            status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_attempt_at timestamptz,
            last_status     integer,
            last_error      text,
            delivered_at    timestamptz,
            created_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id) REFERENCES lrs_endpoints (tenant_id) ON DELETE CASCADE
        );
        CREATE INDEX lrs_statements_due ON lrs_statements (tenant_id, next_attempt_at) WHERE status = 'pending';
        CREATE INDEX lrs_statements_log ON lrs_statements (tenant_id, created_at DESC, id DESC);
        CREATE INDEX lrs_statements_attempt ON lrs_statements (tenant_id, attempt_id, verb, score_version);
        """
    )
    tenant_tables("lrs_endpoints", "lrs_statements")
    # the dispatcher finds which tenants have statements due (then works inside each tenant)
    execute_script(f"CREATE POLICY dispatcher ON lrs_statements FOR SELECT USING ({DISPATCHER})")


def downgrade() -> None:
    execute_script("DROP TABLE lrs_statements, lrs_endpoints")
