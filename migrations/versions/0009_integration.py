"""HR integration: service clients, the score feed's order, webhook endpoints and their outbox.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

AUTH_LOOKUP = "current_setting('app.auth_lookup', true) = 'on'"
DISPATCHER = "current_setting('app.dispatcher', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        -- Machines of a tenant (HR systems). The secret is shown once; only its SHA-256 is kept
        -- (secrets are 256 random bits, so a fast hash is enough). During a rotation the previous
        -- secret stays valid until previous_valid_until.
        CREATE TABLE service_clients (
            tenant_id            uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id                   uuid NOT NULL DEFAULT gen_random_uuid(),
            name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            scopes               text[] NOT NULL,
            secret_hash          text NOT NULL,
            previous_secret_hash text,
            previous_valid_until timestamptz,
            revoked_at           timestamptz,
            created_by           text NOT NULL,
            created_at           timestamptz NOT NULL DEFAULT now(),
            rotated_at           timestamptz,
            last_token_at        timestamptz,
            PRIMARY KEY (tenant_id, id),
            CONSTRAINT service_clients_id_key UNIQUE (id)
        );

        -- The score feed reads scores in the order of the transactions that wrote them: a page
        -- stops before the oldest transaction still running, so a score committed while a page
        -- was read is on a later page, never skipped.
        ALTER TABLE scores ADD COLUMN feed_xid xid8 NOT NULL DEFAULT pg_current_xact_id();
        CREATE INDEX scores_feed ON scores (tenant_id, feed_xid, attempt_id, version);

        CREATE TABLE webhook_endpoints (
            tenant_id   uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id          uuid NOT NULL DEFAULT gen_random_uuid(),
            url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
            description text CHECK (length(description) <= 500),
            events      text[] NOT NULL,
            secret      text NOT NULL,
            active      boolean NOT NULL DEFAULT true,
            created_by  text NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        );

        -- The outbox: an event is written in the transaction that makes it true, with one
        -- delivery per subscribed endpoint; a dispatcher sends them after commit.
        CREATE TABLE webhook_events (
            tenant_id  uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id         uuid NOT NULL DEFAULT gen_random_uuid(),
            type       text NOT NULL,
            payload    jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id)
        );

        CREATE TABLE webhook_deliveries (
            tenant_id       uuid NOT NULL DEFAULT {TENANT} REFERENCES tenants (id) ON DELETE CASCADE,
            id              uuid NOT NULL DEFAULT gen_random_uuid(),
            endpoint_id     uuid NOT NULL,
            event_id        uuid NOT NULL,
            status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
            attempts        integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            last_attempt_at timestamptz,
            last_status     integer,
            last_error      text,
            delivered_at    timestamptz,
            created_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, endpoint_id) REFERENCES webhook_endpoints (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, event_id) REFERENCES webhook_events (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX webhook_deliveries_due ON webhook_deliveries (tenant_id, next_attempt_at) WHERE status = 'pending';
        CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (tenant_id, endpoint_id, created_at DESC);

        """
    )
    tenant_tables("service_clients", "webhook_endpoints", "webhook_events", "webhook_deliveries")
    # the token endpoint finds a client by its id before it knows the tenant (like trusted issuers)
    execute_script(f"CREATE POLICY auth_lookup ON service_clients FOR SELECT USING ({AUTH_LOOKUP})")
    # the webhook dispatcher finds which tenants have deliveries due (then works inside each tenant)
    execute_script(f"CREATE POLICY dispatcher ON webhook_deliveries FOR SELECT USING ({DISPATCHER})")


def downgrade() -> None:
    execute_script(
        """DROP TABLE webhook_deliveries, webhook_events, webhook_endpoints, service_clients;
        DROP INDEX scores_feed; ALTER TABLE scores DROP COLUMN feed_xid"""
    )
