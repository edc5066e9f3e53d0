"""A rescoring's preview or commit runs as batch jobs (kind 'rescoring_batch') that several workers
take side by side: `rescoring_batches` holds each batch's range of attempt ids (after `after_id`, up
to `upto_id`, in id order) and, once done, what it found. A batch is one fenced transaction that
stores its scores, marks itself done and completes its job: a batch run twice (retried, taken over)
finds itself done and changes nothing.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

_KINDS = "'rescoring', 'item_statistics', 'aggregates', 'score_export', 'calibration', 'training_effect'"  # as after 0026


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE rescoring_batches (
            tenant_id    uuid NOT NULL DEFAULT {TENANT},
            id           uuid NOT NULL,
            rescoring_id uuid NOT NULL,
            phase        text NOT NULL CHECK (phase IN ('preview', 'commit')),
            number       integer NOT NULL CHECK (number >= 0),
            after_id     uuid,
            upto_id      uuid NOT NULL,
            done         boolean NOT NULL DEFAULT false,
            tally        jsonb,
            CHECK (done = (tally IS NOT NULL)),
            PRIMARY KEY (tenant_id, id),
            UNIQUE (tenant_id, rescoring_id, phase, number),
            FOREIGN KEY (tenant_id, rescoring_id) REFERENCES rescorings (tenant_id, id) ON DELETE CASCADE
        );
        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}, 'rescoring_batch'));
        """
    )
    tenant_tables("rescoring_batches")


def downgrade() -> None:
    execute_script(
        f"""
        DO $$
        DECLARE t uuid;
        BEGIN  -- row-level security is forced: tenant by tenant
            FOR t IN SELECT DISTINCT tenant_id FROM jobs WHERE kind = 'rescoring_batch' LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                DELETE FROM jobs WHERE kind = 'rescoring_batch';
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true);
        END $$;
        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}));
        DROP TABLE rescoring_batches;
        """
    )
