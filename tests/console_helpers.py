"""Signing in to the console over plain HTTP (no browser), through the demo provider, for the console's tests."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import msgspec

from service.config import Settings
from service.demo import seed_demo
from tests.harness import app_for, serving

BASE = "http://assess.test"


def demo_settings(settings: Settings) -> Settings:
    return msgspec.structs.replace(settings, demo=True)


@asynccontextmanager
async def demo_console(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app in demo mode with the demo tenant seeded, and an httpx client on it. The app is built
    once per worker for equal settings (tests/harness.py's `app_for`: 511 route handlers took
    4-6 s to register per test on the loaded 2-core machine); its lifespan runs per use."""
    app = app_for(demo_settings(settings))
    async with serving(app) as http:
        await seed_demo(app.state.runtime.pool)
        yield http


def hidden_fields(page: str, persona: str) -> dict[str, str]:
    """The fields of the demo provider's form for `persona`."""
    for form in re.findall(r"<form.*?</form>", page, flags=re.DOTALL):
        fields = {
            html.unescape(n): html.unescape(v)
            for n, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form)
        }
        if fields.get("persona") == persona:
            return fields
    raise AssertionError(f"no form for {persona}")


async def sign_in(http: httpx.AsyncClient, persona: str = "admin") -> httpx.Response:
    """The whole demo flow; returns the callback's answer (303 to /console with the session cookie)."""
    start = await http.get("/console/login", params={"tenant": "demo-province"})
    assert start.status_code == 303, start.text
    authorize = await http.get(start.headers["location"])
    assert authorize.status_code == 200, authorize.text
    chosen = await http.post("/console/demo-idp/authorize", data=hidden_fields(authorize.text, persona))
    assert chosen.status_code == 303, chosen.text
    callback = await http.get(chosen.headers["location"])
    assert callback.status_code == 303 and callback.headers["location"] == "/console", callback.text
    return callback


def csrf_of(page: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found, page
    return html.unescape(found.group(1))
