"""One job mechanism for rescorings, item statistics, aggregate rebuilds/checks and score exports:
a `jobs` row per job (same id as the kind's own row) with its lease, heartbeat, attempts and error.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

DISPATCHER = "current_setting('app.dispatcher', true) = 'on'"


def upgrade() -> None:
    execute_script(
        f"""
        -- A queued job, or a running one whose lease lapsed (its worker died), is claimed by any worker;
        -- the kind's own row (rescorings, statistics_runs, aggregate_jobs, score_exports) keeps what
        -- clients read: status, progress, result.
        CREATE TABLE jobs (
            tenant_id        uuid NOT NULL DEFAULT {TENANT},
            id               uuid NOT NULL,
            kind             text NOT NULL
                             CHECK (kind IN ('rescoring', 'item_statistics', 'aggregates', 'score_export')),
            state            text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
            attempts         integer NOT NULL DEFAULT 0,
            lease_owner      text,
            lease_expires_at timestamptz,
            heartbeat_at     timestamptz,
            error            text,
            created_at       timestamptz NOT NULL DEFAULT now(),
            started_at       timestamptz,
            finished_at      timestamptz,
            PRIMARY KEY (tenant_id, id)
        );
        CREATE INDEX jobs_due ON jobs (lease_expires_at NULLS FIRST) WHERE state IN ('queued', 'running');
        """
    )
    tenant_tables("jobs")
    # workers find which tenants have jobs to claim (then claim inside each tenant's transaction)
    execute_script(f"CREATE POLICY dispatcher ON jobs FOR SELECT USING ({DISPATCHER})")
    # Jobs left unfinished before this migration (their worker gone) get a lapsed lease: the first
    # worker to poll takes them over. Tenant by tenant, as row-level security is forced.
    execute_script(
        """
        DO $$
        DECLARE t uuid;
        BEGIN
            FOR t IN SELECT tenant_id FROM rescorings WHERE status IN ('previewing', 'running')
                     UNION SELECT tenant_id FROM statistics_runs WHERE status = 'running'
                     UNION SELECT tenant_id FROM aggregate_jobs WHERE status = 'running'
                     UNION SELECT tenant_id FROM score_exports WHERE status IN ('queued', 'running') LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                INSERT INTO jobs (id, kind, state, lease_expires_at)
                SELECT id, 'rescoring', 'running', now() FROM rescorings WHERE status IN ('previewing', 'running')
                UNION ALL SELECT id, 'item_statistics', 'running', now() FROM statistics_runs WHERE status = 'running'
                UNION ALL SELECT id, 'aggregates', 'running', now() FROM aggregate_jobs WHERE status = 'running'
                UNION ALL SELECT id, 'score_export', 'running', now() FROM score_exports
                          WHERE status IN ('queued', 'running');
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true);
        END $$;
        """
    )


def downgrade() -> None:
    execute_script("DROP TABLE jobs")
