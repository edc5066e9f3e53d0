"""Pure tests: no database, no app. `./dev test tests/unit` runs them in seconds, without starting
PostgreSQL. A test here that asks for a fixture of the database or the app fails at set-up: it
belongs in tests/."""

from __future__ import annotations

import pytest

INTEGRATION_FIXTURES = frozenset(
    {"server_url", "template_db", "owner_url", "owner", "app_url", "settings", "client", "delivery"}
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    used = INTEGRATION_FIXTURES.intersection(getattr(item, "fixturenames", ()))
    if used:
        pytest.fail(
            f"{item.nodeid} uses {sorted(used)}: a test of the database or the app is not a unit test"
        )
