"""The candidate client at /take on a slow phone network: time to the first usable screen of a started
44-item form, and the bytes on the wire.

Starts the service (`assess serve`) with its own embedded PostgreSQL, publishes a 44-item form of the
shipped cadre bank, starts an attempt for one candidate over the API, then opens /take/ in Debian's
Chromium at 360 px with the network throttled by the DevTools protocol (200 ms latency, 50 KB/s each
way): once on a fresh phone (no service worker yet) and once reloaded (the service worker installed).
"First usable screen" is the first item of the attempt on screen, answerable. Not a test: the figures
depend on the machine.

    ./dev python bench/take_first_screen.py [--items 44] [--latency 200] [--kbps 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import httpx
from _harness import bench_tenant, candidate_token, running_service

from service.items.samples import sample_bank

PHONE = {"viewport": {"width": 360, "height": 740}, "is_mobile": True, "has_touch": True}


async def measure(url: str, token: str, attempt_id: str, latency: int, kbps: int) -> None:
    from playwright.async_api import async_playwright

    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM", "/usr/bin/chromium"), args=["--no-sandbox"]
        )
        context = await browser.new_context(**PHONE)
        page = await context.new_page()
        await page.goto(url + "/take/strings.json")  # the origin, for its sessionStorage: nothing of the app
        await page.evaluate(
            "([t, a]) => { sessionStorage.setItem('take.token', JSON.stringify({token: t, expires: Date.now() + 3e6}));"
            " sessionStorage.setItem('take.attempt', a); }",
            [token, attempt_id],
        )
        cdp = await context.new_cdp_session(page)
        await cdp.send("Network.enable")
        await cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        await cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency,
                "downloadThroughput": kbps * 1024,
                "uploadThroughput": kbps * 1024,
            },
        )
        wire = {"bytes": 0}
        cdp.on(
            "Network.loadingFinished",
            lambda e: wire.__setitem__("bytes", wire["bytes"] + e["encodedDataLength"]),
        )
        for label, go in (("fresh phone", lambda: page.goto(url + "/take/")), ("reload", page.reload)):
            wire["bytes"] = 0
            began = time.perf_counter()
            await go()
            await page.wait_for_selector("fieldset.item input, fieldset.item textarea, fieldset.item button")
            seconds = time.perf_counter() - began
            print(
                f"{label}: first usable screen in {seconds:.2f} s, {wire['bytes'] / 1024:.1f} KB on the wire"
            )
            if label == "fresh phone":
                await page.evaluate("navigator.serviceWorker.ready.then(() => true)")
                await asyncio.sleep(2)
        await browser.close()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=44)
    parser.add_argument("--latency", type=int, default=200, help="ms each way")
    parser.add_argument("--kbps", type=int, default=50, help="KB/s each way")
    args = parser.parse_args()
    with running_service(workers=1, pool_max=4) as service:
        assert service.keys is not None
        codes = [item.code for item in sample_bank("cadre-ai-literacy").items][: args.items]
        async with httpx.AsyncClient(base_url=service.url, timeout=60) as http:
            section = {"code": "all", "items": [{"code": c} for c in codes], "shuffle_items": True}
            tenant_id, _, ids = await bench_tenant(http, service.keys, 1, {"sections": [section]})
            me = candidate_token(service.keys, tenant_id, ids[0])
            started = await http.post("/v1/me/assessments/bench/attempts", json={}, headers=me)
            started.raise_for_status()
            body = started.json()
            request = http.build_request(
                "GET", f"/v1/me/attempts/{body['attempt']['id']}", headers={**me, "Accept-Encoding": "br"}
            )
            resumed = await http.send(request, stream=True)
            wire = b"".join([chunk async for chunk in resumed.aiter_raw()])
            await resumed.aclose()
            print(
                f"form: {len(body['items'])} items; the started form (GET /v1/me/attempts/{{id}}) is "
                f"{len(wire) / 1024:.1f} KB on the wire ({resumed.headers.get('content-encoding')})"
            )
        await measure(service.url, me["Authorization"][7:], body["attempt"]["id"], args.latency, args.kbps)


if __name__ == "__main__":
    asyncio.run(main())
