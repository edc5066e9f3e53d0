"""Rollups keep per-(category, week) rows only for split units: the tenant and units with children.

A leaf unit (a village: a few dozen people over some thirty category and week cells) is *compact*:
its whole rows (all categories, all weeks) stay, and what its per-(category, week) cells hold is
read from its own `results` rows (service/aggregates/rollups.py). At 1,000,000 results about 88%
of the rollup rows were villages' per-(category, week) rows; the rebuild computed, compared and
wrote every one of them. Upgrading deletes those rows of units without children (the figures do
not change: a view sums the same results); downgrading puts them back, summed from the results.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

from service.db.migration_sql import execute_script

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

ROOT = "00000000-0000-0000-0000-000000000000"


def _each_tenant(body: str) -> str:
    """`body` run once per tenant with rollups, under that tenant's policies (row-level security is forced)."""
    return f"""
        DO $$
        DECLARE tenant uuid;
        BEGIN
            PERFORM set_config('app.operator', 'on', true);
            FOR tenant IN SELECT id FROM tenants LOOP
                PERFORM set_config('app.operator', '', true), set_config('app.tenant_id', tenant::text, true);
                {body}
                PERFORM set_config('app.operator', 'on', true);
            END LOOP;
            PERFORM set_config('app.tenant_id', '', true), set_config('app.operator', '', true);
        END $$;
        """


def upgrade() -> None:
    execute_script(
        _each_tenant(f"""
        DELETE FROM rollups r WHERE r.category <> '*' AND r.unit_id <> '{ROOT}'::uuid
            AND NOT EXISTS (SELECT 1 FROM org_units o WHERE o.tenant_id = r.tenant_id AND o.parent_id = r.unit_id);""")
    )


def downgrade() -> None:
    # the per-(category, week) rows of every unit without children again, summed from its results
    execute_script(
        _each_tenant("""
        INSERT INTO rollups (assessment_id, unit_id, measure, category, week, n, total, total_sq, hist, levels)
        SELECT assessment_id, unit_id, measure, category, week, n, t, tq, h[1:100], h[101:]
        FROM (SELECT r.assessment_id, u.id AS unit_id, m.measure, r.category, r.week, count(*)::int AS n,
                     sum(m.scaled) AS t, sum(m.scaled * m.scaled) AS tq,
                     int_hist(array_agg(least(99, greatest(0, floor(m.scaled)))::int) || array_agg(100 + m.rank::int),
                              array_agg(1) || array_agg(1), 100 + max(m.rank::int) + 1) AS h
              FROM org_units u
              JOIN results r ON r.tenant_id = u.tenant_id AND r.org_unit_id = u.id AND r.attempt_id IS NOT NULL
              CROSS JOIN LATERAL unnest(r.measures, r.scaled, r.level_ranks) AS m(measure, scaled, rank)
              WHERE NOT EXISTS (SELECT 1 FROM org_units c WHERE c.tenant_id = u.tenant_id AND c.parent_id = u.id)
              GROUP BY r.assessment_id, u.id, m.measure, r.category, r.week) g
        ON CONFLICT DO NOTHING;""")
    )
