"""The scope table in the README is what the routes do: every scope is walked, statically (each
route's guards) and by calling every route with a client granted that scope alone. And
`webhooks:manage` opens webhook management, within the client's own tenant."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute

from service.api.app import create_app
from service.auth.principal import CLIENT_SCOPES
from service.config import Settings
from tests.conftest import serving
from tests.harness import app_for
from tests.helpers import bearer, make_tenant

README = Path(__file__).resolve().parent.parent / "README.md"
_PARAMETER = re.compile(r"\{(\w+)(:\w+)?\}")


def documented() -> dict[str, set[str]]:
    """scope -> {"METHOD /path"} from the README's scope table."""
    table: dict[str, set[str]] = {}
    for line in README.read_text().splitlines():
        row = re.match(r"\s*\| `([a-z-]+:[a-z]+)` \| (.*) \|\s*$", line)
        if row:
            table[row[1]] = set(re.findall(r"`((?:GET|POST|PUT|PATCH|DELETE) /[^`]*)`", row[2]))
    return table


def operations(app: Litestar) -> list[tuple[str, str, Any]]:
    """(method, path template, handler) of every route that needs a token."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or route.path.startswith("/docs"):
            continue
        for handler in route.route_handlers:
            if handler.opt.get("exclude_from_auth"):
                continue
            for method in sorted(handler.http_methods - {"HEAD", "OPTIONS"}):
                found.append((method, route.path, handler))
    return found


def opened_by_guards(handler: Any, scope: str) -> bool:
    """A client passes a route's guards if every guard on it admits the scope (a guard naming no
    scopes, or not a scope guard at all, e.g. operator-only, refuses clients)."""
    guards = [g for layer in handler.ownership_layers for g in (layer.guards or [])]
    guards = [g for g in guards if g.__name__ != "authenticate_and_limit"]
    return bool(guards) and all(scope in getattr(g, "client_scopes", ()) for g in guards)


def test_the_readme_scope_table_is_what_the_guards_allow():
    table = documented()
    assert set(table) == set(CLIENT_SCOPES)
    routes = operations(create_app())
    for scope in CLIENT_SCOPES:
        actual = {
            f"{method} {_plain(path)}" for method, path, handler in routes if opened_by_guards(handler, scope)
        }
        assert actual == table[scope], (scope, actual ^ table[scope])


async def _client_headers(
    http: httpx.AsyncClient, admin: dict[str, str], scopes: list[str]
) -> dict[str, str]:
    made = (await http.post("/v1/clients", json={"name": "HR", "scopes": scopes}, headers=admin)).json()
    token = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(made["id"], made["client_secret"])
    )
    assert token.status_code == 200, token.text
    return bearer(token.json()["access_token"])


def _plain(path: str) -> str:
    return _PARAMETER.sub(r"{\1}", path)


def _concrete(path: str) -> str:
    """A path the router matches, naming nothing that exists."""
    values = {":uuid": lambda: str(uuid4()), ":int": lambda: "1"}
    return _PARAMETER.sub(lambda m: values.get(m[2] or "", lambda: "nothing-here")(), path)


@pytest.fixture
def scope_settings(owner_url: str, keys_file: Path) -> Settings:
    return Settings.from_env(
        {
            "DATABASE_URL": owner_url,
            "SERVICE_KEYS_FILE": str(keys_file),
            "CLIENT_RATE_PER_SECOND": "0",
            "TOKEN_RATE_PER_SECOND": "0",
            "WEBHOOK_DISPATCH_SECONDS": "0",
        }
    )


async def test_every_scope_opens_exactly_its_documented_routes(scope_settings, service_keys):
    table = documented()
    app = app_for(scope_settings)
    routes = [(m, p) for m, p, _ in operations(app)]
    async with serving(app) as http:
        tenant = await make_tenant(http, service_keys, "scope-walk")
        for scope in CLIENT_SCOPES:
            headers = await _client_headers(http, tenant["admin"], [scope])
            opened = set()
            for method, path in routes:
                response = await http.request(
                    method,
                    _concrete(path),
                    headers=headers,
                    **({"json": {}} if method in ("POST", "PUT", "PATCH") else {}),
                )
                assert response.status_code != 401, (method, path, response.text)
                if response.status_code != 403:
                    opened.add(f"{method} {_plain(path)}")
            assert opened == table[scope], (scope, opened ^ table[scope])


async def test_a_client_with_webhooks_manage_manages_its_own_tenants_webhooks(scope_settings, service_keys):
    hook = {"url": "https://hr.example/hook", "events": ["score.finalized"]}
    async with serving(app_for(scope_settings)) as http:
        mine = await make_tenant(http, service_keys, "hooks-mine")
        other = await make_tenant(http, service_keys, "hooks-other")
        headers = await _client_headers(http, mine["admin"], ["webhooks:manage"])
        theirs = (await http.post("/v1/webhooks", json=hook, headers=other["admin"])).json()

        created = await http.post("/v1/webhooks", json=hook, headers=headers)
        assert created.status_code == 201, created.text
        webhook = created.json()
        assert webhook["secret"].startswith("whsec_")
        listed = (await http.get("/v1/webhooks", headers=headers)).json()["items"]
        assert [w["id"] for w in listed] == [webhook["id"]]  # the other tenant's is not there
        assert (
            await http.patch(f"/v1/webhooks/{webhook['id']}", json={"description": "HR"}, headers=headers)
        ).status_code == 200
        assert (
            await http.post(f"/v1/webhooks/{webhook['id']}/rotate-secret", headers=headers)
        ).status_code == 200
        assert (await http.post(f"/v1/webhooks/{webhook['id']}/test", headers=headers)).status_code == 202
        assert (
            await http.get(f"/v1/webhooks/{webhook['id']}/deliveries", headers=headers)
        ).status_code == 200
        # another tenant's endpoint is not found, as for that tenant's admin
        for method in ("GET", "PATCH", "DELETE"):
            response = await http.request(
                method,
                f"/v1/webhooks/{theirs['id']}",
                headers=headers,
                **({"json": {"description": "x"}} if method == "PATCH" else {}),
            )
            assert response.status_code == 404, (method, response.text)
        assert (await http.delete(f"/v1/webhooks/{webhook['id']}", headers=headers)).status_code == 204
        # the admin sees the client's work; a client without the scope gets 403
        assert (await http.get("/v1/webhooks", headers=mine["admin"])).json()["items"] == []
        without = await _client_headers(http, mine["admin"], ["people:write"])
        assert (await http.get("/v1/webhooks", headers=without)).status_code == 403
