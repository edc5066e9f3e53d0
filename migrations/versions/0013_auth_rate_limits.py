"""Rate limits of the token endpoint shared by every worker and host: one token bucket per key.

Keys are `client:<id>` (tokens issued to a client), `address:<ip>` (failed client authentications
from a source address) and `failures` (failed client authentications in total); see
service/auth/limits.py. Not tenant data, so no tenant_id: the rows hold client ids and network
addresses. Row-level security confines them to the limiter's own transactions
(`app.rate_limits = 'on'`), so no tenant, operator or lookup transaction can read or write them.
The limiter's one entry point is `auth_rate_take` (an ordinary SECURITY INVOKER function: it sets
that context for its own statement, takes from the buckets and gives back reservations), called
as one autocommitted statement so a bucket's row lock is held for one round trip, not four.
UNLOGGED: a bucket lost in a database crash only starts full again, and no WAL is written per
token request.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from service.db.migration_sql import app_role, execute_script

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LIMITER = "current_setting('app.rate_limits', true) = 'on'"
# What a bucket holds now: refilled at its rate since it was last touched, up to its burst.
AVAILABLE = "least(EXCLUDED.burst, b.tokens + extract(epoch FROM clock_timestamp() - b.updated_at)::float8 * EXCLUDED.rate)"


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

        -- Take one token from each bucket named (created full), after giving one back to each key in
        -- p_refund; p_purge also deletes buckets untouched for an hour (full again by then).
        CREATE FUNCTION auth_rate_take(p_keys text[], p_rates float8[], p_bursts float8[], p_refund text[],
                                       p_purge boolean)
        RETURNS TABLE (key text, tokens float8, granted boolean) LANGUAGE plpgsql AS $fn$
        #variable_conflict use_column
        BEGIN
            PERFORM set_config('app.rate_limits', 'on', true);
            IF p_purge THEN
                DELETE FROM auth_rate_buckets WHERE updated_at < now() - interval '1 hour';
            END IF;
            UPDATE auth_rate_buckets SET tokens = least(burst, tokens + 1) WHERE key = ANY(p_refund);
            RETURN QUERY
            INSERT INTO auth_rate_buckets AS b (key, rate, burst, tokens, granted, updated_at)
            SELECT k, r, u, u - 1, true, clock_timestamp() FROM unnest(p_keys, p_rates, p_bursts) AS t(k, r, u)
            ON CONFLICT (key) DO UPDATE SET
                rate = EXCLUDED.rate, burst = EXCLUDED.burst,
                granted = {AVAILABLE} >= 1,
                tokens = {AVAILABLE} - CASE WHEN {AVAILABLE} >= 1 THEN 1 ELSE 0 END,
                updated_at = clock_timestamp()
            RETURNING b.key, b.tokens, b.granted;
        END
        $fn$;
        GRANT EXECUTE ON FUNCTION auth_rate_take(text[], float8[], float8[], text[], boolean) TO {app_role()};
        """
    )


def downgrade() -> None:
    execute_script(
        "DROP FUNCTION auth_rate_take(text[], float8[], float8[], text[], boolean); "
        "DROP TABLE auth_rate_buckets"
    )
