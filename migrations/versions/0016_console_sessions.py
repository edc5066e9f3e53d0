"""Web console sessions, and what an identity provider needs for console sign-in.

A console session is a row, not a signed cookie, so that logout (and an administrator) ends it
everywhere at once. The cookie holds only a random id; the row holds its SHA-256, so a copy of
the table signs nobody in. The row is found from the cookie before the tenant is known, through
the read-only auth-lookup context (like service clients' status); every other statement runs in
the tenant's own transaction.

trusted_issuers gains the OpenID discovery URL and the client id the console signs in with; both
stay NULL for issuers that only sign API tokens.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

AUTH_LOOKUP = "current_setting('app.auth_lookup', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE console_sessions (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id_hash       bytea NOT NULL CHECK (length(id_hash) = 32),
            subject       text NOT NULL,
            issuer        text NOT NULL,
            roles         text[] NOT NULL,
            locale        text NOT NULL CHECK (locale IN ('zh-CN', 'en')),
            csrf_token    text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            last_seen_at  timestamptz NOT NULL DEFAULT now(),
            idle_expires_at     timestamptz NOT NULL,
            absolute_expires_at timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id_hash)
        );
        CREATE UNIQUE INDEX console_sessions_id_hash ON console_sessions (id_hash);
        CREATE INDEX console_sessions_subject ON console_sessions (tenant_id, subject);

        ALTER TABLE trusted_issuers ADD COLUMN discovery_url text,
                                    ADD COLUMN console_client_id text;
        """
    )
    tenant_tables("console_sessions")
    execute_script(f"CREATE POLICY auth_lookup ON console_sessions FOR SELECT USING ({AUTH_LOOKUP})")


def downgrade() -> None:
    execute_script("""
        DROP TABLE console_sessions;
        ALTER TABLE trusted_issuers DROP COLUMN discovery_url, DROP COLUMN console_client_id;
    """)
