"""A real learning record store on loopback: Ralph (France Université Numérique's `ralph-malph`),
its LRS with the file-system backend, and its xAPI 1.0.3 pydantic models as the schema check.

Ralph's dependencies (pydantic 2, fastapi, ...) are not ours, so it lives in a venv of its own,
made once by `pip install` from PyPI and reused while its pinned version and the Python it was
made with are unchanged. The venv is in the user's cache (`$ASSESS_CACHE`, else
`$XDG_CACHE_HOME/assess`, else `~/.cache/assess`), not the checkout: every clone and worktree on a
machine shares one (installing it took 1-3 minutes of a test's set-up). A fresh machine (CI) builds
it on first use; a test session that will need it starts the build in the background as soon as its
tests are collected (`start_install_if_needed`, from tests/conftest.py), so other tests run
meanwhile. It cannot be installed -> the fixture fails with pip's output, never skips: a skipped
interoperability test looks green.

Use from a test module:

    from tests.lrs import ralph_env, ralph  # noqa: F401  (fixtures)

`ralph` is a running LRS (`.xapi_url`, `.key`, `.secret`, `.statements()`), one per test module;
`ralph_env.validate(statements)` returns the xAPI 1.0.3 validation errors (empty when all pass).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

RALPH = "ralph-malph[lrs]==5.1.0"
EXTRA = ["requests==2.32.3"]  # imported by Ralph's API (its OIDC module) but not in its `lrs` extra
ROOT = Path(__file__).resolve().parent.parent


def _cache() -> Path:
    explicit = os.environ.get("ASSESS_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "assess"


PYTHON_TAG = f"py{sys.version_info.major}.{sys.version_info.minor}"
VENV = _cache() / f"ralph-5.1.0-{PYTHON_TAG}"
MADE_WITH = f"{RALPH} {' '.join(EXTRA)} {os.path.realpath(sys.base_prefix)}\n"  # what `installed` records
KEY, SECRET = "assess", "lrs-test-secret"

_VALIDATE = """
import json, sys
from pydantic import ValidationError
from ralph.models.xapi.base.statements import BaseXapiStatement
errors = []
for statement in json.load(sys.stdin):
    try:
        BaseXapiStatement.model_validate(statement)
    except ValidationError as exc:
        errors.append({"id": statement.get("id"), "errors": exc.errors(include_url=False)})
print(json.dumps(errors, default=str))
"""


# Ralph's file-system LRS backend writes every request with its data backend's default operation,
# CREATE, which refuses an existing file: only the first request is stored. APPEND is the one its
# docs give for adding to a file; the LRS is otherwise run as shipped (`ralph.api:app` under uvicorn).
# On SIGTERM uvicorn waits for idle keep-alive connections without end: one second, not the fixture's
# ten before it kills the server (10-15 s of each test module's teardown).
_SERVE = """
import sys, uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend
FSLRSBackend.default_operation_type = BaseOperationType.APPEND
uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="info", timeout_graceful_shutdown=1)
"""


def _python() -> Path:
    return VENV / "bin" / "python"


def _installed() -> bool:
    done = VENV / "installed"
    return done.exists() and done.read_text() == MADE_WITH and _python().exists()


def _install() -> None:
    """Make the venv once (a lock keeps parallel test workers, and other checkouts' test runs, from
    building it together)."""
    VENV.parent.mkdir(parents=True, exist_ok=True)
    with open(VENV.parent / f"{VENV.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed():
            return
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(VENV)],
            [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", RALPH, *EXTRA],
        ]
        for step in steps:
            result = subprocess.run(step, capture_output=True, text=True, timeout=900, check=False)
            if result.returncode != 0:
                pytest.fail(
                    f"cannot install the test LRS ({RALPH}) into {VENV}: {' '.join(step)} exited "
                    f"{result.returncode}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}",
                    pytrace=False,
                )
        (VENV / "installed").write_text(MADE_WITH)


_early: threading.Thread | None = None


def start_install_if_needed(items: list[pytest.Item]) -> None:
    """When a collected test uses the LRS and its venv is not made yet, start making it in a thread,
    so the first such test finds it made or nearly. A failure there is left for that test's
    `ralph_env` to meet again, with pip's output."""
    global _early
    if _early is not None or _installed():
        return
    if not any("ralph_env" in getattr(item, "fixturenames", ()) for item in items):
        return

    def install() -> None:
        with contextlib.suppress(BaseException):  # pytest.fail's exception included: the fixture reports it
            _install()

    _early = threading.Thread(target=install, name="ralph-install", daemon=True)
    _early.start()


def finish_install() -> None:
    """At the session's end: a build started early and still running is waited for (left to die with
    the process, its pip would go on writing the venv while the next session clears it)."""
    if _early is not None:
        _early.join()


@dataclass
class RalphEnv:
    python: Path

    def validate(self, statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Validate against Ralph's xAPI 1.0.3 base statement model; the errors, per statement."""
        result = subprocess.run(
            [str(self.python), "-c", _VALIDATE],
            input=json.dumps(statements),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        errors: list[dict[str, Any]] = json.loads(result.stdout)
        return errors


@dataclass
class Ralph:
    base: str  # http://127.0.0.1:<port>
    key: str
    secret: str

    @property
    def xapi_url(self) -> str:
        return self.base + "/xAPI/"

    def statements(self, **params: Any) -> list[dict[str, Any]]:
        """Every statement the LRS holds (GET /xAPI/statements, following `more`)."""
        found: list[dict[str, Any]] = []
        url: str | None = self.base + "/xAPI/statements"
        query: dict[str, Any] = {"limit": 500, **params}
        while url:
            response = httpx.get(
                url,
                params=query,
                auth=(self.key, self.secret),
                headers={"X-Experience-API-Version": "1.0.3"},
                timeout=30,
            )
            response.raise_for_status()
            page = response.json()
            found += page["statements"]
            url, query = (self.base + page["more"], {}) if page.get("more") else (None, {})
        return found


@pytest.fixture(scope="session")
def ralph_env() -> RalphEnv:
    _install()
    return RalphEnv(_python())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _environment(python: Path, home: Path) -> dict[str, str]:
    """Ralph's settings: one basic-auth user (KEY, SECRET), statements under `home`."""
    hashed = subprocess.run(
        [
            str(python),
            "-c",
            "import bcrypt,sys; print(bcrypt.hashpw(sys.argv[1].encode(), bcrypt.gensalt()).decode())",
            SECRET,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    auth = [
        {"agent": {"mbox": "mailto:assess@example.org"}, "scopes": ["all"], "hash": hashed, "username": KEY}
    ]
    (home / "auth.json").write_text(json.dumps(auth))
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RALPH_APP_DIR": str(home / "app"),
        "RALPH_AUTH_FILE": str(home / "auth.json"),
        "RALPH_RUNSERVER_BACKEND": "fs",
        "RALPH_BACKENDS__LRS__FS__DEFAULT_DIRECTORY_PATH": str(home / "statements"),
    }


@pytest.fixture(scope="module")
def ralph(ralph_env: RalphEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ralph]:
    """A fresh LRS on 127.0.0.1, its statements in a temporary directory, one basic-auth user."""
    home = tmp_path_factory.mktemp("ralph")
    env = _environment(ralph_env.python, home)
    port = _free_port()
    log = open(home / "server.log", "w")  # noqa: SIM115 - kept open while the server runs
    server = subprocess.Popen(
        [str(ralph_env.python), "-c", _SERVE, str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/__lbheartbeat__", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the test LRS did not start:\n{(home / 'server.log').read_text()[-3000:]}", pytrace=False
                )
            time.sleep(0.2)
        yield Ralph(base, KEY, SECRET)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


if __name__ == "__main__":  # `./dev python -m tests.lrs [port]`: the README's local LRS, in the foreground
    _install()
    home = ROOT / ".assess" / "ralph-lrs"
    home.mkdir(exist_ok=True)
    port = sys.argv[1] if len(sys.argv) > 1 else "8100"
    print(
        f"LRS at http://127.0.0.1:{port}/xAPI/ (key {KEY}, secret {SECRET}); statements in {home}", flush=True
    )
    os.execve(str(_python()), [str(_python()), "-c", _SERVE, port], _environment(_python(), home))
