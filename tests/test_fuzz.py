"""Schemathesis against the app's own OpenAPI document, as every kind of caller.

The tenant has data to find: units, people, a published framework and assessment, a submitted
attempt waiting for its rating, one in progress, a service client. Each role (candidate, rater,
analyst, author, HR client, tenant admin, operator) fuzzes the operations its guards admit; every
other operation answers 403 before any of its code runs (test_isolation_http proves that route by
route). Schemathesis runs its phases in process against the ASGI app: the document's examples,
fuzzing (schema-valid and schema-violating data), and the stateful phase (sequences chained through
links it infers from responses and Location headers: create, then read, change, delete), with
every check. What a check gets wrong for this API by design is dropped narrowly, with the reason.

The bounded run is part of the suite: a fixed seed, FUZZ_EXAMPLES (5) examples per operation and
mode, no shrinking, and each operation fuzzed once, as the first role in ROLES it admits (the others
pass the same guard). The long run adds the coverage phase (boundary values, every way to violate
the schema, unexpected methods) and fuzzes every operation as every role it admits:

    FUZZ_EXAMPLES=100 ./dev test tests/test_fuzz.py      # FUZZ_SEED=<n> another seed, FUZZ_ROLES=a,b some roles
"""

from __future__ import annotations

import functools
import json
import os
import re
import time
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import httpx
import msgspec
import pytest
import schemathesis
from litestar import Litestar
from litestar.exceptions import PermissionDeniedException
from schemathesis.engine import events, from_schema
from schemathesis.python import asgi as schemathesis_asgi

from service.api.app import authenticate_and_limit, create_app
from service.api.openapi_doc import render_openapi
from service.auth.keys import ServiceKeys
from service.auth.principal import CLIENT_SCOPES, OPERATOR, Principal
from service.config import Settings
from service.i18n import SUPPORTED, msg, render
from tests.conftest import serving
from tests.delivery_setup import assessment_body, delivery_tenant
from tests.helpers import bearer, make_tenant, operator, user

# Slow (property-based fuzzing of every operation): run by default and by .ci/run; `-m "not slow"` deselects it locally.
pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "5"))
SEED = int(os.environ.get("FUZZ_SEED", "20260101"))
LONG = EXAMPLES > 5

# Run in this order: later roles may change what earlier ones rely on (the tenant admin can revoke
# the HR client; the operator can suspend the tenant).
ROLES = ("candidate", "rater", "analyst", "author", "hr_client", "tenant_admin", "operator")
ONLY = set(filter(None, os.environ.get("FUZZ_ROLES", "").split(",")))


@dataclass
class Caller:
    role: str
    token: str
    principal: Principal
    operations: frozenset[str]  # "METHOD /path" labels its guards admit


def _checks() -> dict[str, Any]:
    return {
        "enabled": True,
        # Schema-valid is not always applicable: a parent that does not exist, an unknown time zone, a
        # unit moved under itself are 422 by design (documented on each operation); a write without
        # If-Match is 428 and one with a stale ETag 412 (documented; the header is optional in the
        # document only because its absence has an answer of its own).
        "positive_data_acceptance": {
            "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "412", "422", "428", "429", "5xx"]
        },
    }


def _is_allowed_refusal(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """`filter_failure` hook: False drops the failure. Two refusals of schema-valid requests are by design:
    - an invented cursor: a list answers a cursor it never handed out with 400 bad-cursor (cursors
      are opaque, so the document cannot describe a valid one);
    - 5.0 for an integer: JSON Schema counts it as one, the API's strict decoding does not (an integer
      is sent without a fraction; the document cannot say so).
    """
    if failure.title != "Schema-valid request rejected" or response.status_code != 400:
        return True
    try:
        problem = json.loads(response.content)
    except ValueError:
        return True
    if problem.get("type") == "urn:assess:problem:bad-cursor":
        return False
    details = [error.get("detail", "") for error in problem.get("errors", [])]
    return not (details and all(d in _FLOAT_FOR_INT for d in details))


# msgspec's refusal of 5.0 for an integer, in each language the problem may be written in
_FLOAT_FOR_INT = {
    render(msg("Expected `{expected}`, got `{got}`", expected=expected, got="float"), locale)
    for expected in ("int", "int | null")
    for locale in SUPPORTED
}


def _config(caller: Caller) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            # Hypothesis times how long generating an example takes; on a loaded 2-core machine a large
            # body (a framework version) trips "too slow" though nothing is wrong with the service.
            "suppress-health-check": ["too_slow"],
            "cache": {
                "enabled": False
            },  # nothing carried over from earlier runs (nor written to .schemathesis/)
            "continue-on-failure": True,
            # Shrinking a failure re-runs it many times; the bounded run reports it as found.
            "generation": {
                "mode": "all",
                "max-examples": EXAMPLES,
                "database": "none",
                "no-shrink": not LONG,
            },
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": LONG},  # some 6,000 requests per role: too slow for every run
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
            "checks": _checks(),
            # The token goes where the document's security says (`bearer`); public routes get none.
            "auth": {"openapi": {"bearer": {"bearer": caller.token}}},
        }
    )


def _label(method: str, path: str) -> str:
    """Litestar's `/v1/items/{code:str}` as the document's `GET /v1/items/{code}`."""
    return method + " " + re.sub(r"{(\w+):[^}]+}", r"{\1}", path)


async def _admitted(app: Litestar, principal: Principal) -> frozenset[str]:
    """The operations whose route guards let `principal` through (authentication aside)."""
    connection = SimpleNamespace(user=principal)
    labels = set()
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not handler.resolve_include_in_schema():
                continue
            if handler.opt.get("exclude_from_auth") and OPERATOR not in principal.roles:
                continue  # public routes: once is enough (the operator's run)
            try:
                for guard in handler.resolve_guards():
                    if guard is not authenticate_and_limit:
                        await guard(connection, handler)  # type: ignore[arg-type]
            except PermissionDeniedException:
                continue
            labels.update(_label(method, route.path) for method in handler.http_methods if method != "HEAD")
    return frozenset(labels)


async def _world(http: httpx.AsyncClient, keys: ServiceKeys, app: Litestar) -> list[Caller]:
    tenant = await delivery_tenant(http, keys, slug="fuzz-region")
    admin, candidates = tenant["admin"], tenant["candidates"]
    # c1 submitted (the open response waits for a rater), c2 is mid-attempt.
    for me, submit in ((candidates[0], True), (candidates[1], False)):
        started = await http.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
        assert started.status_code == 201, started.text
        attempt = started.json()["attempt"]["id"]
        for ref, answer in (("T-SC-1", {"choice": "c"}), ("T-OR-1", {"text": "一个提示词"})):
            saved = await http.put(
                f"/v1/me/attempts/{attempt}/answers/{ref}", json={"revision": 1, "answer": answer}, headers=me
            )
            assert saved.status_code == 200, saved.text
        if submit:
            assert (await http.post(f"/v1/me/attempts/{attempt}/submit", headers=me)).status_code == 200
    made = await http.post("/v1/clients", json={"name": "HR", "scopes": list(CLIENT_SCOPES)}, headers=admin)
    assert made.status_code == 201, made.text
    granted = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made.json()["id"], made.json()["client_secret"]),
    )
    assert granted.status_code == 200, granted.text
    tokens = {
        "tenant_admin": admin["Authorization"],
        "author": user(keys, tenant["id"], ["author"])["Authorization"],
        "analyst": user(keys, tenant["id"], ["analyst"])["Authorization"],
        "rater": user(keys, tenant["id"], ["rater"], sub="rater-1")["Authorization"],
        "candidate": candidates[2]["Authorization"],
        "hr_client": bearer(granted.json()["access_token"])["Authorization"],
        "operator": operator(keys)["Authorization"],
    }
    callers = []
    for role in ROLES:
        token = tokens[role].removeprefix("Bearer ")
        principal = await app.state.runtime.verifier.verify(token)
        callers.append(Caller(role, token, principal, await _admitted(app, principal)))
    return callers


@pytest.fixture
def fuzz_settings(settings: Settings) -> Settings:
    # No outbound traffic: fuzzed webhook URLs are never called (their deliveries just queue).
    # No rate limit: the HR client's requests would mostly be 429s (test_ratelimit covers it).
    return msgspec.structs.replace(settings, webhook_dispatch_seconds=0, client_rate_per_second=0)


@pytest.fixture
async def callers(fuzz_settings: Settings, service_keys: ServiceKeys) -> list[Caller]:
    app = create_app(fuzz_settings)
    async with serving(app) as http:
        return await _world(http, service_keys, app)


@dataclass
class Finding:
    role: str
    operation: str
    phase: str
    check: str
    title: str
    message: str
    status: int | None
    body: str
    curl: str

    def __str__(self) -> str:
        return (
            f"[{self.role}] {self.operation} ({self.phase}) {self.check}: {self.title}\n"
            f"    {self.message.strip()[:400]}\n    -> {self.status} {self.body[:300]}\n    {self.curl[:600]}"
        )


def _fuzz(app: Litestar, caller: Caller, operations: frozenset[str]) -> tuple[list[Finding], list[str]]:
    """Schemathesis's engine (what `st run` drives): every phase and check, in process through its ASGI
    transport, which serves the app in an event loop thread of its own, lifespan and all. (Its pytest
    plugin's fixture-loaded schemas do not run under pytest 9.2.)"""
    schema = schemathesis.openapi.from_asgi("/docs/openapi.json", app, config=_config(caller))
    schema = schema.include(func=lambda ctx: ctx.operation.label in operations)
    schema.hook("filter_failure")(_is_allowed_refusal)
    findings: list[Finding] = []
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for case_id, nodes in recorder.checks.items():
                for node in nodes:
                    if node.failure_info is None:
                        continue
                    failure = node.failure_info.failure
                    interaction = recorder.interactions.get(case_id)
                    response = interaction.response if interaction else None
                    case = recorder.cases[case_id].value
                    findings.append(
                        Finding(
                            caller.role,
                            case.operation.label,
                            event.phase.value,
                            node.name,
                            failure.title,
                            failure.message,
                            response.status_code if response else None,
                            response.content.decode(errors="replace")
                            if response and response.content
                            else "",
                            node.failure_info.code_sample,
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            errors.append(f"[{caller.role}] {event.label}: {event.info.format()}")
        elif isinstance(event, events.FatalError):
            errors.append(f"[{caller.role}] fatal: {event.exception!r}")
    return findings, errors


def test_every_role_fuzzed_against_the_openapi_document(fuzz_settings: Settings, callers: list[Caller]):
    app = create_app(fuzz_settings)
    findings: list[Finding] = []
    errors: list[str] = []
    try:
        done: set[str] = set()
        for caller in callers:
            operations = caller.operations if LONG else caller.operations - done
            done |= caller.operations
            if (ONLY and caller.role not in ONLY) or not operations:
                continue
            started = time.perf_counter()
            found, failed = _fuzz(app, caller, operations)
            print(f"{caller.role}: {len(operations)} operations, {time.perf_counter() - started:.1f} s")
            findings += found
            errors += failed
    finally:
        schemathesis_asgi.shutdown_lifespans()  # before the test's database is dropped
    distinct = {(f.role, f.operation, f.check, f.title): f for f in findings}
    report = "\n".join([*map(str, distinct.values()), *errors])
    assert not errors and not findings, f"{len(findings)} findings ({len(distinct)} distinct):\n{report}"


# --------------------------------------------------------------------------- what the fuzzer found
# Each a regression test for one finding, cheap enough to run without Schemathesis.


@functools.cache
def _document() -> dict[str, Any]:
    return json.loads(render_openapi())


def _documented(method: str, path: str, status: int) -> bool:
    return str(status) in _document()["paths"][path][method.lower()]["responses"]


async def test_options_names_every_method_of_the_path(client: httpx.AsyncClient, service_keys: ServiceKeys):
    """Litestar 2 answered OPTIONS with the methods of the handlers registered first (`OPTIONS, POST`)."""
    tenant = await make_tenant(client, service_keys, "options")
    for path, methods in (
        ("/v1/assessments", "GET, OPTIONS, POST"),
        ("/v1/org-units/x", "DELETE, GET, OPTIONS, PATCH"),
        ("/v1/frameworks/x/versions/1", "GET, OPTIONS, PATCH, PUT"),
    ):
        response = await client.options(path, headers=tenant["admin"])
        assert (response.status_code, response.headers["allow"]) == (204, methods), path


def test_routes_without_a_token_say_so():
    """They inherited the document's bearer requirement: `security: []` was dropped as empty."""
    document = _document()
    for path in ("/health/live", "/health/ready", "/.well-known/jwks.json"):
        assert document["paths"][path]["get"]["security"] == []
    assert document["paths"]["/oauth/token"]["post"]["security"] == [{"clientBasic": []}, {}]
    assert document["components"]["securitySchemes"]["clientBasic"]["scheme"] == "basic"


def test_the_document_says_what_strict_decoding_refuses():
    """Unknown fields are refused, and constraints inside unions and containers were missing."""
    schemas = _document()["components"]["schemas"]
    assert schemas["PersonUpsert"]["additionalProperties"] is False  # forbid_unknown_fields
    assert "additionalProperties" not in schemas["Person"]  # a response struct that allows more
    assert schemas["SingleChoice"]["properties"]["tags"]["items"]["minLength"] == 1  # list[Tag]
    assert schemas["SingleChoice"]["properties"]["stem"]["propertyNames"]["pattern"]  # language tags as keys
    number = schemas["StartAttempt"]["properties"]["number"]["oneOf"][0]  # Annotated[int, Meta] | None
    assert (number["minimum"], number["maximum"]) == (1, 100)
    assert schemas["TenantUpdate"]["properties"]["min_group_size"]["minimum"] == 2  # ... | UnsetType
    [seed] = [
        p
        for p in _document()["paths"]["/v1/assessments/{code}/preview"]["get"]["parameters"]
        if p["name"] == "seed"
    ]
    assert seed["schema"]["minimum"] == 0  # Litestar drops a bound of 0


async def test_statuses_the_routes_answer_are_documented(
    client: httpx.AsyncClient, service_keys: ServiceKeys
):
    tenant = await delivery_tenant(client, service_keys, slug="statuses")
    admin, me = tenant["admin"], tenant["candidates"][0]
    refused = await client.post(
        "/v1/tenants",
        json={"slug": "tz", "name": "Tz", "timezone": "Mars/Olympus"},
        headers=operator(service_keys),
    )
    assert refused.status_code == 422 and _documented("POST", "/v1/tenants", 422)
    refused = await client.patch(
        "/v1/tenants/statuses", json={"timezone": "Mars/Olympus"}, headers=operator(service_keys)
    )
    assert refused.status_code == 422 and _documented("PATCH", "/v1/tenants/{slug}", 422)
    draft = await client.post(
        "/v1/assessments",
        json=assessment_body("draft", sections=[{"code": "main", "items": [{"code": "NOPE"}]}]),
        headers=admin,
    )
    assert draft.status_code == 201, draft.text
    preview = await client.get("/v1/assessments/draft/preview", headers=admin)  # a draft naming no real item
    assert preview.status_code == 422 and _documented("GET", "/v1/assessments/{code}/preview", 422)
    created = await client.put("/v1/people/new-1", json={}, headers=admin)
    assert created.status_code == 201 and _documented("PUT", "/v1/people/{external_id}", 201)
    for status in (201, 200):  # started, then continued
        started = await client.post("/v1/me/assessments/quiz/attempts", json={}, headers=me)
        assert started.status_code == status and _documented(
            "POST", "/v1/me/assessments/{code}/attempts", status
        )


async def test_version_numbers_beyond_postgres_integers_are_invalid_input(
    client: httpx.AsyncClient, service_keys: ServiceKeys
):
    """They reached the database and came back as an unexplained 400 bad-value; now the field is named."""
    tenant = await delivery_tenant(client, service_keys, slug="versions")
    admin, big = tenant["admin"], 2**31
    for method, url, body, where in (
        ("GET", f"/v1/frameworks/cadre-ai-literacy/versions/{big}", None, "version"),
        ("GET", f"/v1/frameworks/cadre-ai-literacy/diff?from={big}&to=1", None, "from"),
        ("GET", f"/v1/items/T-SC-1/versions/{big}", None, "version"),
        ("GET", f"/v1/items/T-SC-1/preview?version={big}", None, "version"),
        ("POST", "/v1/frameworks/cadre-ai-literacy/versions", {"from_version": big}, "/from_version"),
        ("POST", "/v1/assessments/quiz/rescorings", {"reason": "r", "items": {"T-SC-1": big}}, "/items"),
        (
            "POST",
            "/v1/assessments/quiz/rescorings",
            {"reason": "r", "framework_version": big},
            "/framework_version",
        ),
    ):
        response = await client.request(method, url, json=body, headers=admin)
        assert response.status_code == 400, (url, response.text)
        problem = response.json()
        assert problem["type"] == "urn:assess:problem:validation", (url, problem)
        assert [e.get("parameter") or e.get("pointer") for e in problem["errors"]] == [where], (url, problem)


async def test_texts_longer_than_their_column_are_invalid_input(
    client: httpx.AsyncClient, service_keys: ServiceKeys
):
    """A note or reason of 2001 to 4000 characters passed decoding and broke the column's CHECK: 409 integrity."""
    tenant = await delivery_tenant(client, service_keys, slug="long-texts")
    admin, long = tenant["admin"], "x" * 2001
    noted = await client.put(
        "/v1/assessments/quiz/accommodations/c1", json={"extra_time_factor": 1.5, "note": long}, headers=admin
    )
    reasoned = await client.post("/v1/assessments/quiz/rescorings", json={"reason": long}, headers=admin)
    for response, pointer in ((noted, "/note"), (reasoned, "/reason")):
        assert response.status_code == 400, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer]
    assert (
        await client.put(
            "/v1/assessments/quiz/accommodations/c1",
            json={"extra_time_factor": 1.5, "note": long[1:]},
            headers=admin,
        )
    ).status_code == 200


async def test_the_token_endpoint_ignores_unrecognized_parameters(
    client: httpx.AsyncClient, service_keys: ServiceKeys
):
    """RFC 6749 §3.1: unrecognized parameters are ignored, even repeated; a recognized one may not repeat."""
    tenant = await make_tenant(client, service_keys, "token-form")
    made = (
        await client.post(
            "/v1/clients", json={"name": "HR", "scopes": ["scores:read"]}, headers=tenant["admin"]
        )
    ).json()
    basic = (made["id"], made["client_secret"])
    headers = {"content-type": "application/x-www-form-urlencoded"}
    granted = await client.post(
        "/oauth/token", content=b"grant_type=client_credentials&x=1&x=2&y=", headers=headers, auth=basic
    )
    assert granted.status_code == 200, granted.text
    repeated = await client.post(
        "/oauth/token",
        content=b"grant_type=client_credentials&scope=scores:read&scope=",
        headers=headers,
        auth=basic,
    )
    assert (repeated.status_code, repeated.json()["error"]) == (400, "invalid_request")
