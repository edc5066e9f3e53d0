"""Score export jobs: a snapshot of an assessment's scores rendered once, stored in the database in
chunks, downloadable (and resumable) by any worker on any host until it expires.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    execute_script(
        f"""
        -- One export job. heartbeat_at is refreshed by the worker running it: a queued or running job
        -- whose heartbeat stopped belongs to a worker that died, and is reported failed. chunk_bytes is
        -- the size of every chunk but the last, so a byte range maps to chunks without an index.
        CREATE TABLE score_exports (
            tenant_id     uuid NOT NULL DEFAULT {TENANT},
            id            uuid NOT NULL DEFAULT gen_random_uuid(),
            assessment_id uuid NOT NULL,
            format        text NOT NULL CHECK (format IN ('csv', 'jsonl')),
            status        text NOT NULL DEFAULT 'queued'
                          CHECK (status IN ('queued', 'running', 'done', 'failed', 'expired')),
            chunk_bytes   integer NOT NULL CHECK (chunk_bytes > 0),
            rows_total    bigint,
            rows_done     bigint NOT NULL DEFAULT 0,
            bytes         bigint NOT NULL DEFAULT 0,
            sha256        text,
            error         text,
            requested_by  text NOT NULL,
            created_at    timestamptz NOT NULL DEFAULT now(),
            started_at    timestamptz,
            heartbeat_at  timestamptz NOT NULL DEFAULT now(),
            finished_at   timestamptz,
            expires_at    timestamptz NOT NULL,
            PRIMARY KEY (tenant_id, id),
            FOREIGN KEY (tenant_id, assessment_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX score_exports_listed ON score_exports (tenant_id, created_at DESC, id DESC);
        CREATE INDEX score_exports_due ON score_exports (tenant_id, expires_at) WHERE status IN ('done', 'failed');

        -- The file: chunk seq covers bytes [seq * chunk_bytes, (seq + 1) * chunk_bytes).
        CREATE TABLE score_export_chunks (
            tenant_id uuid NOT NULL DEFAULT {TENANT},
            export_id uuid NOT NULL,
            seq       integer NOT NULL CHECK (seq >= 0),
            data      bytea NOT NULL,
            PRIMARY KEY (tenant_id, export_id, seq),
            FOREIGN KEY (tenant_id, export_id) REFERENCES score_exports (tenant_id, id) ON DELETE CASCADE
        );
        """
    )
    tenant_tables("score_exports", "score_export_chunks")


def downgrade() -> None:
    execute_script("DROP TABLE score_export_chunks, score_exports")
