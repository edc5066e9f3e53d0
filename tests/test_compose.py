"""compose.yaml, the Dockerfile and the README agree with the code (no container engine, no database).

The settings list in service.config.SETTINGS is the one source of truth: compose may set only
those names on the app services, and the README's configuration table must list all of them.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from service.config import SETTINGS

ROOT = Path(__file__).resolve().parent.parent
SETTING_NAMES = {s.name for s in SETTINGS}
APP_SERVICES = ("migrate", "api")


# --- helpers -----------------------------------------------------------------------------------


def _compose() -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(document, dict), "compose.yaml is not a mapping"
    return document


def _service(name: str) -> dict[str, Any]:
    service = _compose()["services"][name]
    assert isinstance(service, dict)
    return service


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    """`environment:` in either compose form (mapping, or list of NAME=value / NAME)."""
    env = service.get("environment") or {}
    if isinstance(env, dict):
        return {str(k): None if v is None else str(v) for k, v in env.items()}
    result: dict[str, str | None] = {}
    for item in env:
        name, sep, value = str(item).partition("=")
        result[name] = value if sep else None
    return result


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    """`depends_on:` as {service: condition}; the short (list) form means service_started."""
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _named_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Named-volume mounts as {volume: target}, from the short or the long volume syntax."""
    declared = set((_compose().get("volumes") or {}).keys())
    mounts: dict[str, str] = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, rest = volume.partition(":")
            target = rest.split(":")[0]
        else:
            if volume.get("type", "volume") != "volume":
                continue
            source, target = volume.get("source", ""), volume.get("target", "")
        if source in declared:
            mounts[source] = target
    return mounts


def _command(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else " ".join(str(part) for part in value)


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    current = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue  # comment inside a continued instruction
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        keyword, _, args = current.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        current = ""
    return instructions


def _exec_or_shell(args: str) -> list[str]:
    """A CMD / ENTRYPOINT argument as argv: JSON exec form, or shell form split like sh would."""
    if args.startswith("["):
        parsed = json.loads(args)
        assert isinstance(parsed, list) and all(isinstance(p, str) for p in parsed)
        return parsed
    return shlex.split(args)


# --- compose.yaml ------------------------------------------------------------------------------


def test_compose_parses_and_has_the_three_services() -> None:
    services = _compose()["services"]
    assert {"db", "migrate", "api"} <= set(services)


def test_start_order_db_healthy_then_migrate_completed_then_api() -> None:
    assert _depends_on(_service("migrate")).get("db") == "service_healthy"
    assert _depends_on(_service("api")).get("migrate") == "service_completed_successfully"


def test_db_and_api_have_healthchecks() -> None:
    db_check = _command(_service("db").get("healthcheck", {}).get("test"))
    assert "pg_isready" in db_check
    api_check = _command(_service("api").get("healthcheck", {}).get("test"))
    assert "/health/ready" in api_check
    assert "curl" not in api_check and "wget" not in api_check, "python:3.11-slim has neither"


def test_db_is_postgres_with_a_named_volume_and_credentials() -> None:
    db = _service("db")
    assert re.fullmatch(r"postgres:1[67](\S*)?", db["image"]), db["image"]
    assert _named_mounts(db), "the database must live on a named volume"
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= set(_environment(db))


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_set_only_known_settings(name: str) -> None:
    service = _service(name)
    assert "env_file" not in service, "an env_file would bypass the SETTINGS check"
    unknown = set(_environment(service)) - SETTING_NAMES
    assert not unknown, f"{name} sets variables the service never reads: {sorted(unknown)}"


def test_api_environment() -> None:
    env = _environment(_service("api"))
    assert env.get("DATABASE_URL"), "serve runs `db upgrade`: it needs the owner's DATABASE_URL"
    assert env.get("HOST") == "0.0.0.0", "127.0.0.1 inside a container is unreachable from outside"
    assert env.get("SERVICE_KEYS_FILE")
    assert str(env.get("PORT", "8000")) == "8000"


def test_migrate_upgrades_the_database_and_ensures_keys() -> None:
    migrate = _service("migrate")
    command = _command(migrate.get("command"))
    assert "assess db upgrade" in command
    assert "assess keys ensure" in command
    env = _environment(migrate)
    assert env.get("DATABASE_URL") and env.get("SERVICE_KEYS_FILE")


def test_migrate_and_api_run_the_same_image() -> None:
    migrate, api = _service("migrate"), _service("api")
    assert migrate.get("image") and migrate.get("image") == api.get("image")
    assert migrate.get("build") == api.get("build")


def test_migrate_and_api_share_the_keys_volume() -> None:
    migrate, api = _service("migrate"), _service("api")
    migrate_mounts, api_mounts = _named_mounts(migrate), _named_mounts(api)
    shared = {v for v in set(migrate_mounts) & set(api_mounts) if migrate_mounts[v] == api_mounts[v]}
    assert shared, "migrate and api must mount one named volume at the same path"
    keys_file = _environment(api)["SERVICE_KEYS_FILE"]
    assert keys_file == _environment(migrate)["SERVICE_KEYS_FILE"], "both must use one key file"
    assert any(PurePosixPath(api_mounts[v]) in PurePosixPath(keys_file or "").parents for v in shared), (
        f"SERVICE_KEYS_FILE={keys_file} is not on the shared volume"
    )


def test_api_shuts_down_gracefully_and_publishes_its_port() -> None:
    api = _service("api")
    assert api.get("stop_grace_period")
    assert any(str(p).endswith("8000:8000") or str(p) == "8000" for p in api.get("ports", []))


# --- Dockerfile --------------------------------------------------------------------------------


def test_dockerfile_runs_assess_serve() -> None:
    instructions = _dockerfile_instructions()
    entrypoint = [_exec_or_shell(a) for k, a in instructions if k == "ENTRYPOINT"]
    cmd = [_exec_or_shell(a) for k, a in instructions if k == "CMD"]
    argv = (entrypoint[-1] if entrypoint else []) + (cmd[-1] if cmd else [])
    assert argv[-2:] == ["assess", "serve"], argv


def test_dockerfile_installs_the_lock_with_hashes() -> None:
    runs = [a for k, a in _dockerfile_instructions() if k == "RUN"]
    lock_installs = [r for r in runs if "pip install" in r and "requirements.lock" in r]
    assert lock_installs, "no RUN installs requirements.lock"
    assert all("--require-hashes" in r for r in lock_installs)
    assert any("--no-deps" in r and re.search(r"pip install\b.*\s\.(\s|$)", r) for r in runs), (
        "the project itself must be installed with --no-deps"
    )


def test_dockerfile_runs_as_non_root_on_python_311_slim() -> None:
    instructions = _dockerfile_instructions()
    assert any(k == "FROM" and a.startswith("python:3.11-slim") for k, a in instructions)
    users = [a for k, a in instructions if k == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(k == "EXPOSE" and "8000" in a.split() for k, a in instructions)


def test_dockerignore_keeps_what_the_image_needs() -> None:
    ignored = {
        line.strip().strip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    }
    assert ".venv" in ignored and ".git" in ignored
    assert not ignored & {"service", "migrations", "openapi", "pyproject.toml", "requirements.lock"}


# --- README --------------------------------------------------------------------------------------


def test_readme_configuration_table_lists_every_setting() -> None:
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("README.md not written yet")
    cells = {
        cell.strip().strip("`").strip()
        for line in readme.read_text().splitlines()
        if line.lstrip().startswith("|")
        for cell in line.strip().strip("|").split("|")
    }
    missing = sorted(SETTING_NAMES - cells)
    assert not missing, f"README configuration table lacks: {missing}"


def test_image_carries_the_rubric_templates():
    """The service reads rubrics/templates at run time: the image must copy them."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "COPY rubrics ./rubrics" in dockerfile
