"""The administration screens over HTTP (demo tenant): the org tree (lazy children, search, move, import),
people (filters, pages, edit, deactivate, import with every bad row named), service clients and webhooks
(each secret shown once), the tenant's settings, and who may see what."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re

import httpx
import msgspec
import openpyxl
import pytest
import xlsxwriter

from service.config import Settings
from service.console import sessions
from service.db.pool import tenant_transaction
from service.tenancy import spreadsheets
from tests.console_helpers import csrf_of, demo_console, sign_in


async def _csrf(http: httpx.AsyncClient) -> str:
    return csrf_of((await http.get("/console/")).text)


def _xlsx(rows: list[list[object]], sheet: str = "people") -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    page = book.add_worksheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            page.write(r, c, value)
    book.close()
    return buffer.getvalue()


async def test_org_tree_opens_lazily_searches_moves_and_imports(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        csrf = await _csrf(http)
        tree = await http.get("/console/org-units")
        assert tree.status_code == 200
        assert 'data-testid="unit-P"' in tree.text and 'data-testid="open-P"' in tree.text
        assert "P-C1" not in tree.text  # children come when opened
        children = await http.get("/console/org-units/-/children", params={"parent": "P"})
        assert "<html" not in children.text
        assert 'data-testid="unit-P-C1"' in children.text and 'data-testid="unit-P-C2"' in children.text
        leaf = await http.get("/console/org-units/-/children", params={"parent": "P-C1-K1-T1-V1"})
        assert "unit-" not in leaf.text
        found = await http.get("/console/org-units", params={"q": "county"})
        assert [*re.findall(r'data-testid="found-([^"]+)"', found.text)] == ["P-C1-K1", "P-C1-K2", "P-C2-K1"]
        assert 'data-testid="found-' not in (await http.get("/console/org-units?q=%25")).text  # % is a letter

        # Move a county (with its township and village) to the other city; under itself is refused.
        moved = await http.post(
            "/console/org-units/P-C1-K1/move", data={"csrf_token": csrf, "parent_code": "P-C2"}
        )
        assert moved.status_code == 303 and moved.headers["location"] == "/console/org-units/P-C1-K1?moved=1"
        shown = await http.get(moved.headers["location"])
        assert 'data-testid="unit-parent">P-C2<' in shown.text and 'data-testid="moved"' in shown.text
        cycle = await http.post(
            "/console/org-units/P-C2/move", data={"csrf_token": csrf, "parent_code": "P-C1-K1-T1"}
        )
        assert cycle.status_code == 422 and 'data-testid="error-parent_code"' in cycle.text
        assert "P-C1-K1-T1" in cycle.text and 'aria-invalid="true"' in cycle.text
        unknown = await http.post(
            "/console/org-units/P-C2/move", data={"csrf_token": csrf, "parent_code": "NOWHERE"}
        )
        assert unknown.status_code == 422 and "no org unit &#39;NOWHERE&#39;" in unknown.text
        assert (await http.get("/console/org-units/NOWHERE")).status_code == 404

        # Import: an XLSX in create mode with a bad row (both named), then JSON as the API takes it, upsert.
        bad = _xlsx(
            [
                ["code", "name", "level", "parent_code"],
                ["P-C3", "三市", "city", "P"],
                ["P-C3-K1", "", "county", "P-C3"],
                ["P-C3-K2", "北县", "county", "NOWHERE"],
            ],
            "units",
        )
        refused = await http.post(
            "/console/org-units/-/import",
            data={"csrf_token": csrf, "mode": "create"},
            files={"file": ("units.xlsx", bad)},
        )
        assert refused.status_code == 422, refused.text
        assert 'data-testid="problem-row-3"' in refused.text and 'data-testid="problem-row-4"' in refused.text
        assert 'data-testid="found-P-C3"' not in (await http.get("/console/org-units?q=P-C3")).text
        document = msgspec.json.encode(
            {
                "units": [
                    {"code": "P-C3", "name": "三市", "parent_code": "P"},
                    {"code": "P-C2", "name": "二市 2"},
                ]
            }
        )
        upserted = await http.post(
            "/console/org-units/-/import",
            data={"csrf_token": csrf, "mode": "upsert"},
            files={"file": ("tree.json", document)},
        )
        assert upserted.status_code == 200, upserted.text
        assert re.search(r'data-testid="import-result">[^<]*1[^<]*1', upserted.text)
        assert 'data-testid="unit-parent">—<' in (await http.get("/console/org-units/P-C2")).text


async def test_people_filters_pages_edit_deactivate_and_import(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        csrf = await _csrf(http)
        under = await http.get("/console/people", params={"under": "P-C1", "category": "civil_servant"})
        assert re.findall(r'data-testid="person-([^"]+)"', under.text) == ["demo-0001", "demo-0003"]
        nowhere = await http.get("/console/people", params={"under": "NOWHERE"})
        assert nowhere.status_code == 404 and 'data-testid="error-under"' in nowhere.text

        template = await http.get("/console/people/-/template.xlsx")
        assert template.status_code == 200
        sheets = openpyxl.load_workbook(io.BytesIO(template.content), read_only=True).worksheets
        assert next(sheets[0].iter_rows(values_only=True)) == (
            "external_id",
            "org_unit_code",
            "category",
            "display_name",
            "active",
        )
        assert [r[0] for r in sheets[1].iter_rows(values_only=True)] == list(spreadsheets.PEOPLE_COLUMNS)

        # An import with two bad rows: both named by sheet, row and column; nothing is created.
        rows: list[list[object]] = [["external_id", "org_unit_code", "category", "display_name"]]
        rows += [[f"imp-{n:03}", "P-C1", "teacher", f"教师 {n}"] for n in range(60)]
        rows[11][2] = "astronaut"
        rows[42][1] = "NOWHERE"
        refused = await http.post(
            "/console/people/-/import", data={"csrf_token": csrf}, files={"file": ("staff.xlsx", _xlsx(rows))}
        )
        assert refused.status_code == 422
        problems = re.findall(
            r'data-testid="problem-row-(\d+)"><td>([^<]*)</td><td>\d+</td><td>([^<]*)</td>', refused.text
        )
        assert problems == [
            ("12", "people", "category"),
            ("43", "people", "org_unit_code"),
        ]  # list index + header
        assert "imp-" not in (await http.get("/console/people", params={"under": "P-C1"})).text
        rows[11][2], rows[42][1] = "teacher", "P-C2"
        csv = "\ufeff" + "\n".join(",".join(str(c) for c in r) for r in rows)
        imported = await http.post(
            "/console/people/-/import",
            data={"csrf_token": csrf},
            files={"file": ("staff.csv", csv.encode())},
        )
        assert imported.status_code == 200, imported.text
        assert re.search(r'data-testid="import-result">[^<]*60', imported.text)

        # Pages of 50 with the API's cursors, filters kept.
        first = await http.get("/console/people", params={"category": "teacher"})
        assert len(re.findall(r'data-testid="person-', first.text)) == 50
        following = re.search(r'href="(/console/people\?[^"]+)" data-testid="next-page"', first.text)
        assert following and "category=teacher" in following.group(1)
        second = await http.get(following.group(1).replace("&amp;", "&"))
        assert len(re.findall(r'data-testid="person-', second.text)) == 11  # 60 imported and demo-0005

        # Edit (a merge patch of what changed), a refused unit named at its field, then deactivate.
        edited = await http.post(
            "/console/people/imp-001",
            data={
                "csrf_token": csrf,
                "display_name": "新名字",
                "org_unit_code": "P-C2",
                "category": "teacher",
                "active": "true",
            },
        )
        assert edited.status_code == 303
        page = (await http.get("/console/people/imp-001")).text
        assert 'value="新名字"' in page and 'value="P-C2"' in page
        wrong = await http.post(
            "/console/people/imp-001",
            data={"csrf_token": csrf, "display_name": "x", "org_unit_code": "NOWHERE", "category": "teacher"},
        )
        assert wrong.status_code == 422 and 'data-testid="error-org_unit_code"' in wrong.text
        off = await http.post("/console/people/imp-001/deactivate", data={"csrf_token": csrf})
        assert off.status_code == 303
        inactive = await http.get("/console/people", params={"active": "false"})
        assert re.findall(r'data-testid="person-([^"]+)"', inactive.text) == ["imp-001"]
        assert (await http.get("/console/people/nobody")).status_code == 404


async def _shown_once(http: httpx.AsyncClient, posted: httpx.Response, kind: str) -> tuple[str, str]:
    """A POST that made a secret redirects (Post/Redirect/Get); the page it names shows the secret and the
    id once, `no-store` and `no-referrer`; a second look (a reload, back) finds it gone."""
    assert posted.status_code == 303 and posted.headers["location"] == f"/console/{kind}s/secret", posted.text
    assert 'data-testid="secret"' not in posted.text
    shown = await http.get(posted.headers["location"])
    assert shown.status_code == 200 and shown.headers["cache-control"] == "no-store"
    assert shown.headers["referrer-policy"] == "no-referrer"
    secret = re.search(r'data-testid="secret">([^<]+)<', shown.text)
    object_id = re.search(r'data-testid="object-id">([^<]+)<', shown.text)
    assert secret and object_id
    again = await http.get(posted.headers["location"])
    assert again.status_code == 410 and again.headers["cache-control"] == "no-store"
    assert 'data-testid="secret-gone"' in again.text and secret.group(1) not in again.text
    return object_id.group(1), secret.group(1)


async def test_clients_and_webhooks_show_each_secret_once(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        csrf = await _csrf(http)
        missing = await http.post("/console/clients", data={"csrf_token": csrf, "name": "HR"})
        assert missing.status_code == 422 and 'data-testid="error-scopes"' in missing.text
        created = await http.post(
            "/console/clients",
            data={"csrf_token": csrf, "name": "HR", "scopes": ["people:write", "scores:read"]},
        )
        client_id, secret = await _shown_once(http, created, "client")
        token = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "scope": "people:write"},
            auth=(client_id, secret),
        )
        assert token.status_code == 200, token.text
        listed = await http.get("/console/clients")
        assert secret not in listed.text and "people:write, scores:read" in listed.text
        assert listed.text.count('data-testid="revoke-') == 1, (
            "reloading the secret page made no second client"
        )
        rotated = await http.post(
            f"/console/clients/{client_id}/rotate", data={"csrf_token": csrf, "grace_seconds": "0"}
        )
        _, fresh = await _shown_once(http, rotated, "client")
        assert fresh != secret
        revoked = await http.post(f"/console/clients/{client_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
        assert "rotate-HR" not in (await http.get("/console/clients")).text
        late = await http.post(f"/console/clients/{client_id}/rotate", data={"csrf_token": csrf})
        assert late.status_code == 409 and 'data-testid="client-error"' in late.text
        assert 'data-testid="secret"' not in late.text
        after = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(client_id, fresh),
        )
        assert after.status_code == 401 and after.json()["error"] == "invalid_client", after.text
        gone = await http.post(
            "/console/clients/00000000-0000-0000-0000-000000000000/revoke", data={"csrf_token": csrf}
        )
        assert gone.status_code == 404

        plain = await http.post(
            "/console/webhooks",
            data={"csrf_token": csrf, "url": "http://hooks.example.com/x", "events": "score.finalized"},
        )
        assert plain.status_code == 422 and 'data-testid="error-url"' in plain.text
        hook = await http.post(
            "/console/webhooks",
            data={"csrf_token": csrf, "url": "https://hooks.example.com/x", "events": ["score.finalized"]},
        )
        hook_id, hook_secret = await _shown_once(http, hook, "webhook")
        assert (await http.get("/console/webhooks")).text.count('data-testid="webhook-row"') == 1
        detail_url = f"/console/webhooks/{hook_id}"
        tested = await http.post(f"{detail_url}/test", data={"csrf_token": csrf})
        assert tested.status_code == 303
        detail = await http.get(tested.headers["location"])
        assert (
            'data-testid="test-queued"' in detail.text
            and 'data-testid="delivery-webhook.test"' in detail.text
        )
        assert hook_secret not in detail.text
        delivery = re.search(r"/deliveries/([0-9a-f-]+)/redeliver", detail.text)
        assert delivery
        again = await http.post(
            f"{detail_url}/deliveries/{delivery.group(1)}/redeliver", data={"csrf_token": csrf}
        )
        assert again.status_code == 303
        rotated_hook = await http.post(f"{detail_url}/rotate-secret", data={"csrf_token": csrf})
        _, new_secret = await _shown_once(http, rotated_hook, "webhook")
        assert new_secret != hook_secret
        assert new_secret not in (await http.get("/console/webhooks")).text
        # a webhook's secret is not a client's: each page takes only its own kind
        other = await http.post(f"{detail_url}/rotate-secret", data={"csrf_token": csrf})
        assert (await http.get("/console/clients/secret")).status_code == 410
        assert (await _shown_once(http, other, "webhook"))[1] != new_secret

        logged = caplog.text + "".join(str(r.__dict__) for r in caplog.records)
        assert "assess.access" in logged or "/console/webhooks" in logged  # the access log was captured
        for shown in (secret, fresh, hook_secret, new_secret):
            assert shown not in logged

        tenant = await http.get("/console/tenant")
        assert (
            tenant.status_code == 200
            and "demo-province" in tenant.text
            and "<form" not in tenant.text.split("<main", 1)[1]
        )


async def test_a_webhook_is_disabled_enabled_and_deleted_as_the_api_does(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        csrf = await _csrf(http)
        made = await http.post(
            "/console/webhooks",
            data={"csrf_token": csrf, "url": "https://hooks.example.com/y", "events": ["score.finalized"]},
        )
        hook_id, _ = await _shown_once(http, made, "webhook")
        detail_url = f"/console/webhooks/{hook_id}"
        off = await http.post(f"{detail_url}/active", data={"csrf_token": csrf, "active": "false"})
        assert off.status_code == 303 and off.headers["location"] == f"{detail_url}?done=disabled"
        page = await http.get(off.headers["location"])
        assert 'data-testid="webhook-disabled"' in page.text and 'data-testid="enable-webhook"' in page.text
        refused = await http.post(f"{detail_url}/test", data={"csrf_token": csrf})  # the API's rule: 409
        assert refused.status_code == 409 and 'data-testid="webhook-problem"' in refused.text
        on = await http.post(f"{detail_url}/active", data={"csrf_token": csrf, "active": "true"})
        page = await http.get(on.headers["location"])
        assert 'data-testid="webhook-enabled"' in page.text and 'data-testid="disable-webhook"' in page.text
        assert (await http.post(f"{detail_url}/test", data={"csrf_token": csrf})).status_code == 303

        unconfirmed = await http.post(f"{detail_url}/delete", data={"csrf_token": csrf})
        assert unconfirmed.status_code == 422 and 'data-testid="webhook-problem"' in unconfirmed.text
        deleted = await http.post(f"{detail_url}/delete", data={"csrf_token": csrf, "confirm": "yes"})
        assert deleted.status_code == 303 and deleted.headers["location"] == "/console/webhooks?done=deleted"
        listed = await http.get(deleted.headers["location"])
        assert 'data-testid="webhook-deleted"' in listed.text and hook_id not in listed.text
        assert (await http.get(detail_url)).status_code == 404
        for action, data in (("delete", {"confirm": "yes"}), ("delete", {}), ("active", {"active": "true"})):
            gone = await http.post(f"{detail_url}/{action}", data={"csrf_token": csrf, **data})
            assert gone.status_code == 404, action


class _Undone(Exception):
    pass


async def test_a_held_secret_goes_to_one_page_of_two_at_once_and_not_after_minutes(
    settings: Settings,
) -> None:
    """Two looks at once (a double reload): the second waits on the session's row until the first has
    taken the secret (seen waiting in pg_stat_activity, not timed), then finds nothing. A secret not
    looked at within `HOLD_SECRET` is never shown."""
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        csrf = await _csrf(http)
        pool = http._transport.app.state.runtime.pool  # type: ignore[attr-defined]
        session = await sessions.find(pool, http.cookies["assess_console"])
        assert session is not None
        made = await http.post(
            "/console/clients", data={"csrf_token": csrf, "name": "HR", "scopes": ["people:write"]}
        )
        assert made.status_code == 303
        async with tenant_transaction(pool, session.tenant_id) as first:
            stored = await first.fetchval(
                "SELECT held_secret FROM console_sessions WHERE id_hash = $1", session.id_hash
            )
            # Sealed: whoever reads the table (a backup, a replica) cannot use the secret, nor can
            # a session without this cookie.
            other = msgspec.structs.replace(session, seal_key=sessions.seal_key("another cookie"))
            with contextlib.suppress(_Undone):
                async with first.transaction():  # a savepoint: the wrong key's look is undone
                    assert await sessions.take_secret(first, other, "client") is None
                    raise _Undone
            taken = await sessions.take_secret(first, session, "client")
            assert taken is not None and taken.label == "HR" and taken.secret
            assert taken.secret not in json.dumps(stored) and stored["secret"] != taken.secret

            async def second() -> sessions.HeldSecret | None:
                async with tenant_transaction(pool, session.tenant_id) as conn:
                    return await sessions.take_secret(conn, session, "client")

            pid = await first.fetchval("SELECT pg_backend_pid()")
            waiting = asyncio.create_task(second())
            # Polled inside `first`'s transaction, whose statistics snapshot would otherwise be kept for
            # the whole transaction (the second would never be seen waiting): a fresh one each time.
            while not await first.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> $1",
                pid,
            ):
                assert not waiting.done(), "the second look did not wait for the first"
                await asyncio.sleep(0.01)
                await first.execute("SELECT pg_stat_clear_snapshot()")
            assert not waiting.done()
        assert await waiting is None
        assert (await http.get("/console/clients/secret")).status_code == 410

        late = await http.post(
            "/console/clients", data={"csrf_token": csrf, "name": "HR2", "scopes": ["people:write"]}
        )
        assert late.status_code == 303
        async with tenant_transaction(pool, session.tenant_id) as conn:
            await conn.execute(
                "UPDATE console_sessions SET held_secret_until = now() - interval '1 second' WHERE id_hash = $1",
                session.id_hash,
            )
        expired = await http.get("/console/clients/secret")
        assert expired.status_code == 410 and 'data-testid="secret"' not in expired.text
        async with tenant_transaction(pool, session.tenant_id) as conn:
            row = await conn.fetchrow(
                "SELECT held_secret, held_secret_until FROM console_sessions WHERE id_hash = $1",
                session.id_hash,
            )
        assert row is not None and (row["held_secret"], row["held_secret_until"]) == (None, None)


ADMIN_PAGES = [
    "/console/clients",
    "/console/webhooks",
    "/console/tenant",
    "/console/org-units/-/import",
    "/console/people/-/import",
]


async def test_only_admins_administer(settings: Settings) -> None:
    for persona in ("author", "analyst", "rater"):
        async with demo_console(settings) as http:
            await sign_in(http, persona)
            csrf = await _csrf(http)
            home = await http.get("/console/")
            assert 'data-testid="nav-admin"' not in home.text, persona
            for url in ADMIN_PAGES:
                refused = await http.get(url)
                assert refused.status_code == 403 and "<html" in refused.text, (persona, url)
            for url, data in (
                ("/console/org-units/P-C1/move", {"parent_code": "P-C2"}),
                ("/console/people/demo-0001/deactivate", {}),
                ("/console/people/demo-0001", {"display_name": "x", "category": "teacher"}),
                ("/console/clients", {"name": "x", "scopes": "people:write"}),
                ("/console/webhooks", {"url": "https://hooks.example.com/", "events": "score.finalized"}),
            ):
                assert (await http.post(url, data={"csrf_token": csrf, **data})).status_code == 403, (
                    persona,
                    url,
                )
            # Reading the tree and the people is the API's read guard: authors and analysts, never raters.
            reads = 403 if persona == "rater" else 200
            for url in (
                "/console/org-units",
                "/console/people",
                "/console/people/demo-0001",
                "/console/org-units/P",
            ):
                assert (await http.get(url)).status_code == reads, (persona, url)
            if reads == 200:
                assert "move-unit" not in (await http.get("/console/org-units/P")).text
                assert "save-person" not in (await http.get("/console/people/demo-0001")).text
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        assert len(re.findall('data-testid="nav-admin"', (await http.get("/console/")).text)) == 7
