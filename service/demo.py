"""The demo tenant: a small province with a few cadres, so a newcomer sees the service work."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from service.db.pool import operator_transaction, tenant_transaction
from service.tenancy import org_units, people, tenants
from service.tenancy.org_units import OrgUnitCreate, OrgUnitImport
from service.tenancy.people import PeopleBulkUpsert, PersonBulkRow
from service.tenancy.tenants import TenantCreate

DEMO_SLUG = "demo-province"
DEMO_CANDIDATE = "demo-0001"

_TREE = [
    ("P", "示范省 Demo Province", "province", None),
    ("P-C1", "一市 First City", "city", "P"),
    ("P-C2", "二市 Second City", "city", "P"),
    ("P-C1-K1", "东县 East County", "county", "P-C1"),
    ("P-C1-K2", "西县 West County", "county", "P-C1"),
    ("P-C2-K1", "南县 South County", "county", "P-C2"),
    ("P-C1-K1-T1", "青山镇 Qingshan Township", "township", "P-C1-K1"),
    ("P-C1-K1-T1-V1", "柳村 Liu Village", "village", "P-C1-K1-T1"),
]
_PEOPLE = [
    (DEMO_CANDIDATE, "P-C1-K1-T1-V1", "civil_servant", "村干部 Village cadre"),
    ("demo-0002", "P-C1-K1-T1", "leading_cadre", "镇长 Township head"),
    ("demo-0003", "P-C1-K1", "civil_servant", None),
    ("demo-0004", "P-C1-K2", "professional_technical", None),
    ("demo-0005", "P-C2-K1", "teacher", None),
    ("demo-0006", "P-C2", "leading_cadre", None),
    ("demo-0007", "P", "civil_servant", None),
]


async def seed_demo(pool: asyncpg.Pool) -> UUID:
    """Create the demo tenant, its tree and people if they are missing. Idempotent."""
    async with operator_transaction(pool) as conn:
        existing = await conn.fetchval("SELECT id FROM tenants WHERE slug = $1", DEMO_SLUG)
        if existing is None:
            tenant = await tenants.create_tenant(conn, TenantCreate(DEMO_SLUG, "示范省委组织部 Demo organization department"))
            existing = tenant.id
    async with tenant_transaction(pool, existing) as conn:
        if not await conn.fetchval("SELECT 1 FROM org_units LIMIT 1"):
            await org_units.import_org_units(conn, OrgUnitImport(
                [OrgUnitCreate(code, name, level, parent) for code, name, level, parent in _TREE]))
        await people.bulk_upsert_people(conn, PeopleBulkUpsert(
            [PersonBulkRow(org_unit_code=unit, category=category, display_name=name, external_id=external_id)
             for external_id, unit, category, name in _PEOPLE]))
    return existing
