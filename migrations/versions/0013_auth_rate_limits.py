"""Rate limits of the token endpoint shared by every worker and host: one token bucket per key.

Keys are `client:<id>` (tokens issued to a client), `address:<ip>` (failed client authentications
from a source address) and `failures` (failed client authentications in total); see
service/auth/limits.py. Not tenant data, so no tenant_id: the rows hold client ids and network
addresses. Row-level security confines them to the limiter's own transactions
(`app.rate_limits = 'on'`), so no tenant, operator or lookup transaction can read or write them.
UNLOGGED: a bucket lost in a database crash only starts full again, and no WAL is written per
token request.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-06
"""

from service.db.migration_sql import app_role, execute_script

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None

LIMITER = "current_setting('app.rate_limits', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE UNLOGGED TABLE auth_rate_buckets (
            key        text PRIMARY KEY CHECK (length(key) <= 200),
            rate       double precision NOT NULL CHECK (rate > 0),
            burst      double precision NOT NULL CHECK (burst >= 1),
            tokens     double precision NOT NULL,
            granted    boolean NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX auth_rate_buckets_updated ON auth_rate_buckets (updated_at);
        ALTER TABLE auth_rate_buckets ENABLE ROW LEVEL SECURITY;
        ALTER TABLE auth_rate_buckets FORCE ROW LEVEL SECURITY;
        CREATE POLICY rate_limiter ON auth_rate_buckets USING ({LIMITER}) WITH CHECK ({LIMITER});
        GRANT SELECT, INSERT, UPDATE, DELETE ON auth_rate_buckets TO {app_role()};
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE auth_rate_buckets")
