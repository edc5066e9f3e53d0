"""The console's participation page over HTTP (demo tenant): the table down the tree, its htmx refresh,
the not-started downloads (CSV with a BOM, XLSX read back with openpyxl), and who may see what."""

from __future__ import annotations

import io
import re

import openpyxl

from service.config import Settings
from service.demo import DEMO_ASSESSMENT
from tests.console_helpers import demo_console, sign_in

PAGE = f"/console/assessments/{DEMO_ASSESSMENT}/participation"


async def test_participation_page_drills_down_and_refreshes(settings: Settings) -> None:
    async with demo_console(settings) as http:
        await sign_in(http, "admin")
        listed = await http.get("/console/assessments")
        assert listed.status_code == 200 and f'href="{PAGE}"' in listed.text

        top = await http.get(PAGE)
        assert top.status_code == 200, top.text
        assert 'hx-trigger="every 5s"' in top.text and f'hx-get="{PAGE}"' in top.text
        assert f'href="{PAGE}?unit=P"' in top.text  # the province's row leads one level down
        assert re.search(r'data-testid="unit-total">.*?data-col="audience">7<', top.text, re.DOTALL)

        city = await http.get(PAGE, params={"unit": "P-C1"})
        assert city.status_code == 200
        assert (
            'data-testid="crumb-P"' in city.text
            and 'aria-current="page" data-testid="crumb-P-C1"' in city.text
        )
        assert 'data-testid="unit-P-C1-K1"' in city.text and 'data-testid="unit-P-C1-K2"' in city.text
        # htmx's poll: the table alone, never cached, and the answer varies with the header.
        polled = await http.get(PAGE, params={"unit": "P-C1"}, headers={"HX-Request": "true"})
        assert polled.status_code == 200 and polled.text.lstrip().startswith(("{#", "<section"))
        assert "<html" not in polled.text and polled.headers["cache-control"] == "no-store"
        assert "HX-Request" in polled.headers["vary"]

        csv = await http.get(f"{PAGE}/not-started.csv", params={"unit": "P-C1"})
        assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
        lines = csv.content.decode("utf-8-sig").splitlines()
        assert lines[0] == "external_id,name,unit,unit_name" and any(
            ln.startswith("demo-0001,") for ln in lines
        )
        assert not any(ln.startswith("demo-0005,") for ln in lines)  # P-C2's: not under P-C1
        xlsx = await http.get(f"{PAGE}/not-started.xlsx", params={"unit": "P-C1"})
        assert xlsx.status_code == 200
        rows = list(
            openpyxl.load_workbook(io.BytesIO(xlsx.content), read_only=True).active.iter_rows(
                values_only=True
            )
        )
        assert rows[1] == ("external_id", "name", "unit", "unit_name")
        assert [r[0] for r in rows[2:]] == [ln.split(",")[0] for ln in lines[1:]]

        bad = await http.get(PAGE, params={"unit": "NOWHERE"})
        assert bad.status_code == 422
        missing = await http.get("/console/assessments/nowhere/participation")
        assert missing.status_code == 404


async def test_who_sees_participation_and_the_not_started_list(settings: Settings) -> None:
    for persona, page, listing in (("author", 200, 403), ("analyst", 200, 403), ("rater", 403, 403)):
        async with demo_console(settings) as http:
            await sign_in(http, persona)
            shown = await http.get(PAGE)
            assert shown.status_code == page, persona
            if page == 200:
                assert "not-started.csv" not in shown.text  # no link to what they may not download
            for ext in ("csv", "xlsx"):
                assert (await http.get(f"{PAGE}/not-started.{ext}")).status_code == listing, persona
