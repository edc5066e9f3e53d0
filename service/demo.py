"""The demo tenant: a small province with a few cadres and a teacher, so a newcomer sees the service work.

Two assessments: the cadre one (every demo person) and the shipped 40-minute teacher form
(rubrics/assessments/teacher-digital-literacy.json) for the demo's teacher, `demo-0005`."""

from __future__ import annotations

from uuid import UUID

import asyncpg
import msgspec

from service import pipeline
from service.assessments import assessments
from service.assessments.assessments import id_by_code
from service.assessments.model import AssessmentContent, Audience, FrameworkRef, ItemRef, Pool, Section
from service.db.pool import operator_transaction, tenant_transaction
from service.items import bank
from service.items.model import (
    Item,
    Likert,
    MultipleChoice,
    OpenResponse,
    Ordering,
    SingleChoice,
    SituationalJudgement,
)
from service.items.samples import sample_assessment, sample_bank
from service.rubrics import frameworks
from service.rubrics.frameworks import Adopt
from service.tenancy import org_units, people, tenants
from service.tenancy.fields import Category
from service.tenancy.org_units import OrgUnitCreate, OrgUnitImport
from service.tenancy.people import PeopleBulkUpsert, PersonBulkRow
from service.tenancy.tenants import TenantCreate

DEMO_SLUG = "demo-province"
DEMO_CANDIDATE = "demo-0001"
DEMO_FRAMEWORK = "cadre-ai-literacy"
DEMO_ASSESSMENT = "demo-ai-literacy-2026"
DEMO_TEACHER_FRAMEWORK = "teacher-digital-literacy"
DEMO_TEACHER_ASSESSMENT = "demo-teacher-digital-literacy-2026"
DEMO_TEACHER = "demo-0005"

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
_PEOPLE: list[tuple[str, str, Category, str | None]] = [
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
        existing = await tenants.id_by_slug(conn, DEMO_SLUG)
        if existing is None:
            tenant = await tenants.create_tenant(
                conn, TenantCreate(DEMO_SLUG, "示范省委组织部 Demo organization department")
            )
            existing = tenant.id
    async with tenant_transaction(pool, existing) as conn:
        if not await org_units.has_units(conn):
            await pipeline.import_org_units(
                conn,
                OrgUnitImport(
                    [OrgUnitCreate(code, name, level, parent) for code, name, level, parent in _TREE]
                ),
            )
        await people.bulk_upsert_people(
            conn,
            PeopleBulkUpsert(
                [
                    PersonBulkRow(
                        org_unit_code=unit, category=category, display_name=name, external_id=external_id
                    )
                    for external_id, unit, category, name in _PEOPLE
                ]
            ),
        )
    await seed_demo_assessment(pool, existing)
    await seed_demo_teacher_assessment(pool, existing)
    return existing


def _demo_assessment(items: list[Item]) -> AssessmentContent:
    """Knowledge drawn from a pool, every judgement scenario, the self-report scale, two tasks."""

    def refs(*types: type) -> list[ItemRef]:
        return [ItemRef(item.code) for item in items if isinstance(item, types)]

    def title(zh: str, en: str) -> dict[str, str]:
        return {"zh-CN": zh, "en": en}

    knowledge = refs(SingleChoice, MultipleChoice)
    return AssessmentContent(
        code=DEMO_ASSESSMENT,
        title=title("干部人工智能素养测评（示范）", "Cadre AI literacy assessment (demo)"),
        framework=FrameworkRef(DEMO_FRAMEWORK, 1),
        instructions=title(
            "请独立作答。情境题没有唯一标准答案，请选择你在实际工作中最可能采取的做法。",
            "Answer on your own. Scenarios have no single textbook answer: choose what you "
            "would actually do at work.",
        ),
        sections=[
            Section(
                "knowledge",
                title("基础知识", "Knowledge"),
                pool=Pool(knowledge, draw=min(10, len(knowledge))),
                shuffle_items=True,
            ),
            Section(
                "judgement",
                title("情境判断", "Situational judgement"),
                items=refs(SituationalJudgement),
                shuffle_items=True,
            ),
            Section("self-report", title("自我评价", "Self-report"), items=refs(Likert)),
            Section("tasks", title("实践任务", "Tasks"), items=refs(Ordering, OpenResponse)),
        ],
        audience=Audience(org_units=["P"]),
        time_limit_minutes=40,
        attempts_allowed=2,
        feedback="immediate",
    )


async def _published_template(conn: asyncpg.Connection, template: str) -> None:
    """The template adopted under its own code and published as version 1, unless it already is."""
    if not await frameworks.exists(conn, template):
        await frameworks.adopt_template(conn, Adopt(template=template))
        draft = await frameworks.get_version(conn, template, 1)
        await frameworks.publish(conn, template, 1, draft.etag)


async def seed_demo_assessment(pool: asyncpg.Pool, tenant_id: UUID) -> None:
    """Adopt and publish the cadre framework, import its sample items, publish the demo assessment. Idempotent."""
    async with tenant_transaction(pool, tenant_id) as conn:
        if await id_by_code(conn, DEMO_ASSESSMENT):
            return
        await _published_template(conn, DEMO_FRAMEWORK)
        items = sample_bank(DEMO_FRAMEWORK).items
        await bank.import_items(conn, items)
        created = await assessments.create_assessment(conn, _demo_assessment(items))
        await assessments.publish(conn, DEMO_ASSESSMENT, created.etag)


async def seed_demo_teacher_assessment(pool: asyncpg.Pool, tenant_id: UUID) -> None:
    """The shipped teacher form as it is, but with immediate feedback and a second attempt. Idempotent."""
    async with tenant_transaction(pool, tenant_id) as conn:
        if await id_by_code(conn, DEMO_TEACHER_ASSESSMENT):
            return
        await _published_template(conn, DEMO_TEACHER_FRAMEWORK)
        await bank.import_items(conn, sample_bank(DEMO_TEACHER_FRAMEWORK).items)
        form = msgspec.structs.replace(
            sample_assessment(DEMO_TEACHER_FRAMEWORK),
            code=DEMO_TEACHER_ASSESSMENT,
            attempts_allowed=2,
            feedback="immediate",
        )
        created = await assessments.create_assessment(conn, form)
        await assessments.publish(conn, DEMO_TEACHER_ASSESSMENT, created.etag)
