"""A tenant ready to deliver: a published cadre framework, one item of every type and format,
a published assessment, and candidates with tokens. Shared by the delivery tests, and the steps
(`add_units`, `add_people`, `publish_framework`, `import_items`, `publish_assessment`) by every test
that builds a tenant of its own shape.

For a test that needs the default tenant, the `delivery` fixture (conftest.py) gives it from a
template database built once per worker; a module's own set-up fixture can do the same with
`@snapshot` (tests/harness.py)."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from service.auth.keys import ServiceKeys
from tests.helpers import make_tenant, user

FRAMEWORK = "cadre-ai-literacy"


def _l(zh: str, en: str) -> dict[str, str]:
    return {"zh-CN": zh, "en": en}


def _options(n: int) -> list[dict[str, Any]]:
    return [{"key": k, "text": _l(f"选项{k}", f"Option {k}")} for k in "abcdefgh"[:n]]


def _sjt(code: str, fmt: str) -> dict[str, Any]:
    credit = {"a": (1.0, 0.0), "b": (0.5, 1.0), "c": (0.0, 0.25), "d": (0.75, 0.75)}
    return {
        "type": "situational_judgement",
        "code": code,
        "framework": FRAMEWORK,
        "format": fmt,
        "scenario": _l("你用大模型起草一份通知。", "You draft a notice with a large model."),
        "stem": _l("你会怎么做？", "What would you do?"),
        "loadings": [{"indicator": "HMC.3", "weight": 0.5}, {"indicator": "ES.1", "weight": 0.5}],
        "options": _options(4),
        "key": {
            "options": [{"option": k, "credit": {"HMC.3": h, "ES.1": e}} for k, (h, e) in credit.items()]
        },
    }


ITEMS: list[dict[str, Any]] = [
    {
        "type": "single_choice",
        "code": "T-SC-1",
        "framework": FRAMEWORK,
        "stem": _l("单选", "Single"),
        "loadings": [{"indicator": "AK.1"}],
        "options": _options(4),
        "key": {"correct": "c"},
    },
    {
        "type": "multiple_choice",
        "code": "T-MC-1",
        "framework": FRAMEWORK,
        "stem": _l("多选", "Multiple"),
        "loadings": [{"indicator": "AK.2"}],
        "options": _options(5),
        "key": {"correct": ["a", "d"], "partial_credit": "per_option"},
    },
    _sjt("T-SJT-BEST", "best"),
    _sjt("T-SJT-ML", "most_least"),
    {**_sjt("T-SJT-RATE", "rate"), "rating_points": 4},
    {
        "type": "likert",
        "code": "T-LK-1",
        "framework": FRAMEWORK,
        "stem": _l("我核对AI输出", "I check AI output"),
        "loadings": [{"indicator": "HMC.3"}],
        "key": {"reverse": True},
    },
    {
        "type": "ordering",
        "code": "T-ORD-1",
        "framework": FRAMEWORK,
        "stem": _l("排序", "Order the steps"),
        "loadings": [{"indicator": "HMC.3"}],
        "options": _options(4),
        "key": {"order": ["b", "d", "a", "c"]},
    },
    {
        "type": "open_response",
        "code": "T-OR-1",
        "framework": FRAMEWORK,
        "task": "write_prompt",
        "points": 3,
        "stem": _l("写一个提示词", "Write a prompt"),
        "loadings": [{"indicator": "HMC.2"}],
        "max_length": 500,
        "key": {
            "rater_notes": _l("看上下文和格式", "Look for context and format"),
            "exemplars": [_l("示例答案", "An exemplar")],
        },
    },
]

# A sample answer for every item, by code, in the shape its `answer_with` asks for.
ANSWERS: dict[str, dict[str, Any]] = {
    "T-SC-1": {"choice": "b"},
    "T-MC-1": {"choices": ["a", "b"]},
    "T-SJT-BEST": {"choice": "d"},
    "T-SJT-ML": {"most": "a", "least": "c"},
    "T-SJT-RATE": {"ratings": {"a": 4, "b": 2, "c": 1, "d": 3}},
    "T-LK-1": {"value": 4},
    "T-ORD-1": {"order": ["a", "b", "c", "d"]},
    "T-OR-1": {"text": "请为某县民政局起草一则通知……"},
}


def assessment_body(code: str = "quiz", **overrides: Any) -> dict[str, Any]:
    body = {
        "code": code,
        "title": _l("测评", "Quiz"),
        "framework": {"code": FRAMEWORK, "version": 1},
        "sections": [
            {"code": "main", "items": [{"code": item["code"]} for item in ITEMS], "shuffle_items": True}
        ],
        "audience": {"org_units": ["prov"]},
        "time_limit_minutes": 30,
    }
    body.update(overrides)
    return body


PROVINCE_AND_CITY: list[dict[str, str]] = [
    {"code": "prov", "name": "Province"},
    {"code": "city", "name": "City", "parent_code": "prov"},
]


async def add_units(
    client: httpx.AsyncClient, admin: dict[str, str], units: list[dict[str, str]] = PROVINCE_AND_CITY
) -> None:
    """Create `units` one by one (parents first)."""
    for unit in units:
        created = await client.post("/v1/org-units", json=unit, headers=admin)
        assert created.status_code == 201, created.text


async def add_people(client: httpx.AsyncClient, admin: dict[str, str], rows: list[dict[str, Any]]) -> None:
    done = await client.post("/v1/people/bulk", json={"people": rows}, headers=admin)
    assert done.status_code == 200, done.text


def candidates(n: int, unit: str = "city") -> list[dict[str, Any]]:
    """People rows c1..cN, civil servants in `unit`."""
    return [
        {"external_id": f"c{i}", "org_unit_code": unit, "category": "civil_servant"} for i in range(1, n + 1)
    ]


async def import_items(
    client: httpx.AsyncClient, admin: dict[str, str], items: list[dict[str, Any]] | None = None
) -> None:
    """Import `items` (the shared ITEMS by default)."""
    body = {"items": copy.deepcopy(ITEMS if items is None else items)}
    imported = await client.post("/v1/items/import", json=body, headers=admin)
    assert imported.status_code == 200, imported.text


async def publish_framework(client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    adopted = await client.post("/v1/frameworks", json={"template": FRAMEWORK}, headers=admin)
    assert adopted.status_code == 201, adopted.text
    etag = (await client.get(f"/v1/frameworks/{FRAMEWORK}/versions/1", headers=admin)).headers["etag"]
    published = await client.post(
        f"/v1/frameworks/{FRAMEWORK}/versions/1/publish", headers={**admin, "If-Match": etag}
    )
    assert published.status_code == 200, published.text


async def publish_assessment(
    client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any]
) -> dict[str, Any]:
    created = await client.post("/v1/assessments", json=body, headers=admin)
    assert created.status_code == 201, created.text
    published = await client.post(
        f"/v1/assessments/{body['code']}/publish", headers={**admin, "If-Match": created.headers["etag"]}
    )
    assert published.status_code == 200, published.text
    return published.json()


async def delivery_tenant(
    client: httpx.AsyncClient,
    keys: ServiceKeys,
    slug: str = "delivery-region",
    people: int = 3,
    **assessment: Any,
) -> dict[str, Any]:
    """A tenant with units prov > city, `people` candidates (c1..cN) in the city, the items above
    and a published assessment 'quiz'. Returns the tenant with `admin` and `candidates` headers."""
    tenant = await make_tenant(client, keys, slug)
    admin = tenant["admin"]
    await add_units(client, admin)
    await add_people(client, admin, candidates(people))
    await publish_framework(client, admin)
    await import_items(client, admin)
    tenant["assessment"] = await publish_assessment(client, admin, assessment_body(**assessment))
    tenant["candidates"] = [
        user(keys, tenant["id"], ["candidate"], sub=f"c{i}") for i in range(1, people + 1)
    ]
    return tenant
