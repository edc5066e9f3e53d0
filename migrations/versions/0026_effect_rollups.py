"""Training effect kept ahead: per pair of assessments compared, sums over the people who took both.

`effect_pairs` registers a (before, after) pair the first time its training effect is asked for; a
job (`training_effect`) builds its `effect_rollups`, and from then on the score pipeline keeps them
in step (`service/aggregates/paired.py`). A row holds, for one unit's subtree (the zero uuid: the
whole tenant), one category and one measure, the people placed there by their `after` result: n and
the sums of the before and after scores, of their squares, and of the squared gains, from which the
means, the standard deviations and the 95% interval follow. Any two assessments may be compared;
only the pairs someone asked for are kept.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

from service.db.migration_sql import TENANT, execute_script, tenant_tables

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

_KINDS = "'rescoring', 'item_statistics', 'aggregates', 'score_export', 'calibration'"


def upgrade() -> None:
    execute_script(
        f"""
        CREATE TABLE effect_pairs (
            tenant_id   uuid NOT NULL DEFAULT {TENANT},
            before_id   uuid NOT NULL,
            after_id    uuid NOT NULL,
            id          uuid NOT NULL DEFAULT gen_random_uuid(),  -- its build job's
            state       text NOT NULL DEFAULT 'building' CHECK (state IN ('building', 'ready', 'failed')),
            error       text,
            created_at  timestamptz NOT NULL DEFAULT now(),
            built_at    timestamptz,
            PRIMARY KEY (tenant_id, before_id, after_id),
            UNIQUE (tenant_id, id),
            FOREIGN KEY (tenant_id, before_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE,
            FOREIGN KEY (tenant_id, after_id) REFERENCES assessments (tenant_id, id) ON DELETE CASCADE
        );
        CREATE INDEX effect_pairs_after ON effect_pairs (tenant_id, after_id);

        CREATE TABLE effect_rollups (
            tenant_id      uuid NOT NULL DEFAULT {TENANT},
            before_id      uuid NOT NULL,
            after_id       uuid NOT NULL,
            unit_id        uuid NOT NULL,
            category       text NOT NULL,
            measure        text NOT NULL,
            n              integer NOT NULL,
            sum_before     double precision NOT NULL,
            sum_after      double precision NOT NULL,
            sum_before_sq  double precision NOT NULL,
            sum_after_sq   double precision NOT NULL,
            sum_gain_sq    double precision NOT NULL,
            PRIMARY KEY (tenant_id, before_id, after_id, unit_id, category, measure),
            FOREIGN KEY (tenant_id, before_id, after_id) REFERENCES effect_pairs (tenant_id, before_id, after_id)
                ON DELETE CASCADE
        );
        CREATE INDEX effect_rollups_unit ON effect_rollups (tenant_id, unit_id);

        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}, 'training_effect'));
        """
    )
    tenant_tables("effect_pairs", "effect_rollups")


def downgrade() -> None:
    execute_script(
        f"""
        DO $$
        DECLARE t uuid;
        BEGIN  -- row-level security is forced: tenant by tenant
            FOR t IN SELECT DISTINCT tenant_id FROM jobs WHERE kind = 'training_effect' LOOP
                PERFORM set_config('app.tenant_id', t::text, true);
                DELETE FROM jobs WHERE kind = 'training_effect';
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true);
        END $$;
        ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ({_KINDS}));
        DROP TABLE effect_rollups, effect_pairs;
        """
    )
