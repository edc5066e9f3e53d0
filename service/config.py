"""Settings the service reads from its environment, and nothing else.

Every variable is listed in `SETTINGS` with its default and meaning: the README's
configuration table, `compose.yaml` and a test are all checked against this one list.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec


class Setting(msgspec.Struct, frozen=True):
    name: str
    default: str | None
    meaning: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        None,
        "PostgreSQL URL of a role that may run migrations (owns the tables). "
        "Unset: an embedded PostgreSQL is started in ASSESS_DATA_DIR/pgdata.",
    ),
    Setting(
        "APP_DATABASE_URL",
        None,
        "URL the running service connects with. Unset: DATABASE_URL with the user "
        "replaced by APP_DB_USER / APP_DB_PASSWORD.",
    ),
    Setting(
        "APP_DB_USER",
        "assess_app",
        "Application role: owns nothing, bound by row-level security. Created by `assess db upgrade` if missing.",
    ),
    Setting(
        "APP_DB_PASSWORD", None, "Password of the application role (not needed with trust or peer auth)."
    ),
    Setting("ASSESS_DATA_DIR", ".assess", "Directory for the embedded database and the signing keys."),
    Setting(
        "SERVICE_KEYS_FILE",
        None,
        "JSON file of the service's signing keys. Unset: ASSESS_DATA_DIR/signing-keys.json.",
    ),
    Setting(
        "SERVICE_KEYS_RELOAD_SECONDS",
        "5",
        "How often at most a worker looks at SERVICE_KEYS_FILE again (on a "
        "token naming an unknown key id, the JWKS, signing): a rotation reaches running workers within this time.",
    ),
    Setting("SERVICE_ISSUER", "assess-service", "`iss` of the tokens the service signs itself."),
    Setting("SERVICE_AUDIENCE", "assess-api", "`aud` every service-signed token must carry."),
    Setting("HOST", "127.0.0.1", "Address the HTTP server binds."),
    Setting("PORT", "8000", "Port the HTTP server binds."),
    Setting("WORKERS", "1", "HTTP worker processes."),
    Setting(
        "HTTP_BACKLOG",
        "4096",
        "Connections the kernel queues before the server accepts them (capped by net.core.somaxconn).",
    ),
    Setting(
        "HTTP_CONNECTIONS_PER_WORKER",
        "4096",
        "Connections each worker serves at once (granian's backpressure); "
        "an idle keep-alive connection of a device holds its place, so this bounds the devices a worker serves.",
    ),
    Setting(
        "HTTP_KEEP_ALIVE_SECONDS",
        "75",
        "How long a worker keeps a client's idle keep-alive connection open, and the most time a client "
        "gets to send a request's headers (granian's HTTP/1 header read timeout, which bounds both; its "
        "own 30 s closed the connections of candidates thinking longer between saves).",
    ),
    Setting(
        "HTTP_EVENT_LOOP",
        "auto",
        "The workers' event loop: uvloop, asyncio, or auto (uvloop where it is installed, else asyncio).",
    ),
    Setting("DB_POOL_MIN", "1", "Connections each worker keeps open."),
    Setting(
        "DB_POOL_MAX",
        "10",
        "Most connections each worker and each job process opens; hosts x (workers + job processes) x this "
        "(plus one listening connection per job process) < max_connections.",
    ),
    Setting("MAX_BODY_BYTES", "5000000", "Largest request body accepted; larger ones get 413."),
    Setting("TOKEN_LEEWAY_SECONDS", "10", "Clock skew tolerated on exp / nbf / iat."),
    Setting(
        "AUTH_CACHE_SECONDS",
        "60",
        "How long verified tokens, issuer keys, tenant status and service-client "
        "status are cached (a revocation reaches other workers within this time).",
    ),
    Setting(
        "CLIENT_TOKEN_SECONDS",
        "300",
        "Lifetime of the access tokens service clients get from POST /oauth/token.",
    ),
    Setting(
        "CLIENT_RATE_PER_SECOND",
        "50",
        "Requests per second each service client may make, per worker; more "
        "get 429 with Retry-After (0: no limit).",
    ),
    Setting(
        "CLIENT_RATE_BURST",
        "100",
        "Requests a service client may make at once before CLIENT_RATE_PER_SECOND applies.",
    ),
    Setting(
        "DEADLINE_SWEEP_SECONDS",
        "15",
        "How often each worker submits attempts past their deadline and grace "
        "(0: only when the attempt is next touched).",
    ),
    Setting(
        "WEBHOOK_DISPATCH_SECONDS",
        "2",
        "How often each worker sends due webhook deliveries (0: this worker sends none; events still queue).",
    ),
    Setting(
        "WEBHOOK_RETRY_BASE_SECONDS",
        "5",
        "Bound of the first retry delay of a failed webhook delivery; it "
        "doubles per attempt (full jitter), up to WEBHOOK_RETRY_MAX_SECONDS, for 24 h after the event.",
    ),
    Setting("WEBHOOK_RETRY_MAX_SECONDS", "3600", "Longest delay between two tries of a webhook delivery."),
    Setting(
        "WEBHOOK_RETENTION_DAYS",
        "30",
        "Webhook events and their delivery log are deleted this many days after "
        "the event (0: kept for ever).",
    ),
    Setting(
        "TOKEN_RATE_PER_SECOND",
        "1",
        "Tokens per second (POST /oauth/token) issued to each client, shared by "
        "all workers and hosts (kept in PostgreSQL); only requests with the right secret count; more get 429 "
        "with Retry-After (0: no limit).",
    ),
    Setting(
        "TOKEN_RATE_BURST", "10", "Tokens a client may get at once before TOKEN_RATE_PER_SECOND applies."
    ),
    Setting(
        "AUTH_FAILURE_RATE_PER_ADDRESS",
        "0.2",
        "Failed client authentications per second a source address "
        "may make (all workers and hosts); beyond it the address gets 429 before any lookup (0: no limit).",
    ),
    Setting(
        "AUTH_FAILURE_BURST_PER_ADDRESS",
        "20",
        "Failed client authentications a source address may make at "
        "once before AUTH_FAILURE_RATE_PER_ADDRESS applies.",
    ),
    Setting(
        "AUTH_FAILURE_RATE_TOTAL",
        "20",
        "Failed client authentications per second in total; beyond it "
        "addresses that failed recently get 429 before any lookup, others are still checked (0: no limit).",
    ),
    Setting(
        "AUTH_FAILURE_BURST_TOTAL",
        "200",
        "Failed client authentications in total at once before AUTH_FAILURE_RATE_TOTAL applies.",
    ),
    Setting(
        "TRUSTED_PROXIES",
        None,
        "Comma-separated addresses of reverse proxies whose X-Forwarded-For is "
        "believed (its last address is then the source address the token endpoint limits). Unset: the "
        "connection's peer address, which behind a proxy is the proxy's.",
    ),
    Setting(
        "METRICS_TOKEN",
        None,
        "Bearer token GET /metrics requires. Unset: /metrics answers loopback "
        "clients only (a scraper on the same host), 403 to others.",
    ),
    Setting(
        "WEBHOOK_ALLOW_LOOPBACK",
        "false",
        "Allow webhook URLs on loopback (http://127.0.0.1, localhost): tests and local receivers only.",
    ),
    Setting(
        "SCORE_EXPORT_RETENTION_HOURS",
        "24",
        "How long a score export job's file is kept after it is "
        "finished (> 0); then the job is expired and its file deleted.",
    ),
    Setting(
        "JOB_LEASE_SECONDS",
        "30",
        "How long a worker's claim on a job (rescoring, item statistics, aggregate "
        "job, score export) lasts unless renewed; a job whose worker died is taken over once it lapses.",
    ),
    Setting(
        "JOB_HEARTBEAT_SECONDS",
        "10",
        "How often a worker renews the lease of each job it runs (< JOB_LEASE_SECONDS).",
    ),
    Setting(
        "JOB_POLL_SECONDS",
        "5",
        "How often each worker looks for queued jobs and jobs whose lease lapsed "
        "(0: this worker runs only the jobs its own requests start).",
    ),
    Setting("JOB_MAX_ATTEMPTS", "3", "Claims of a job before one whose worker died again is marked failed."),
    Setting(
        "JOB_MODE",
        None,
        "Where jobs run: `process` (in JOB_PROCESSES job processes of their own, which `assess serve` starts "
        "and restarts beside its HTTP workers; the HTTP workers only enqueue) or `inline` (in the HTTP "
        "workers, each polling). Unset: `process` under `assess serve`, `inline` in an app built otherwise "
        "(tests, `create_app`).",
    ),
    Setting(
        "JOB_PROCESSES",
        "1",
        "Job processes `assess serve` runs with JOB_MODE=process (each polls and runs jobs; >= 1).",
    ),
    Setting(
        "JOB_NICE",
        "10",
        "CPU niceness a job process adds to its own (0 to 19): the OS gives request work the cores first.",
    ),
    Setting(
        "JOB_PROCESS_BATCHES",
        "1",
        "A rescoring's batches each job process takes at once besides those its rescoring's own job runs "
        "(0: each rescoring's batches run one after another in the process that runs it).",
    ),
    Setting(
        "ASSESS_TEST_JOB_PAUSE_SECONDS",
        "0",
        "Tests only: every job pauses this long after its claim, "
        "before its work, so a test can kill its worker mid-job. Leave 0.",
    ),
    Setting(
        "CONSOLE_PUBLIC_URL",
        None,
        "The console's origin as browsers see it (e.g. https://assess.example.gov.cn) "
        "behind a TLS-terminating proxy: the sign-in redirect URI, Secure cookies and the same-origin check use "
        "it. Unset: taken from each request.",
    ),
    Setting(
        "CONSOLE_SESSION_IDLE_MINUTES",
        "30",
        "A web console session unused this long is over (sign in again).",
    ),
    Setting(
        "CONSOLE_SESSION_MAX_HOURS",
        "12",
        "A web console session is over this long after sign-in, used or not.",
    ),
    Setting(
        "ASSESS_DEMO",
        "false",
        "Demo mode (`assess serve --demo` sets it): mounts the built-in sign-in page "
        "for the demo tenant's personas. Never set it on a real deployment.",
    ),
    Setting("LOG_LEVEL", "INFO", "Python log level for the access and application logs."),
)

_DEFAULTS = {s.name: s.default for s in SETTINGS}


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """The settings, parsed. No field has a default: `from_env` fills each from `SETTINGS`, where
    every default is written once."""

    database_url: str | None
    app_database_url: str | None
    app_db_user: str
    app_db_password: str | None
    data_dir: Path
    keys_file: Path
    keys_reload_seconds: float
    service_issuer: str
    service_audience: str
    host: str
    port: int
    workers: int
    pool_min: int
    http_backlog: int
    http_connections_per_worker: int
    http_keep_alive_seconds: float
    http_event_loop: str
    pool_max: int
    max_body_bytes: int
    token_leeway_seconds: int
    auth_cache_seconds: int
    client_token_seconds: int
    deadline_sweep_seconds: int
    log_level: str
    webhook_dispatch_seconds: float
    webhook_retry_base_seconds: float
    webhook_retry_max_seconds: float
    webhook_allow_loopback: bool
    webhook_retention_days: float
    token_rate_per_second: float
    token_rate_burst: float
    client_rate_per_second: float
    client_rate_burst: float
    score_export_retention_hours: float
    auth_failure_rate_per_address: float
    auth_failure_burst_per_address: float
    auth_failure_rate_total: float
    auth_failure_burst_total: float
    trusted_proxies: frozenset[str]
    metrics_token: str | None
    job_lease_seconds: float
    job_heartbeat_seconds: float
    job_poll_seconds: float
    job_max_attempts: int
    job_mode: str
    job_processes: int
    job_nice: int
    job_process_batches: int
    test_job_pause_seconds: float
    console_public_url: str | None
    console_idle_seconds: float
    console_max_seconds: float
    demo: bool

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name)
            return value if value not in (None, "") else _DEFAULTS[name]

        def text(name: str) -> str:
            """A setting that always has a value (its default is not None)."""
            value = get(name)
            if value is None:
                raise AssertionError(f"{name} has no default in SETTINGS")
            return value

        def integer(name: str) -> int:
            raw = get(name)
            try:
                return int(raw or "")
            except ValueError:
                raise SystemExit(f"{name} must be an integer, got {raw!r}") from None

        def seconds(name: str) -> float:
            raw = get(name)
            try:
                value = float(raw or "")
            except ValueError:
                raise SystemExit(f"{name} must be a number of seconds, got {raw!r}") from None
            if not 0 <= value < float("inf"):
                raise SystemExit(f"{name} must be a number of seconds >= 0, got {raw!r}")
            return value

        def positive(name: str) -> float:
            value = seconds(name)
            if value <= 0:
                raise SystemExit(f"{name} must be > 0, got {get(name)!r}")
            return value

        def flag(name: str) -> bool:
            raw = (get(name) or "").strip().lower()
            if raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
                raise SystemExit(f"{name} must be true or false, got {raw!r}")
            return raw in ("true", "1", "yes", "on")

        def event_loop(raw: str) -> str:
            choice = raw.strip().lower()
            if choice not in ("auto", "uvloop", "asyncio"):
                raise SystemExit(f"HTTP_EVENT_LOOP must be auto, uvloop or asyncio, got {raw!r}")
            installed = importlib.util.find_spec("uvloop") is not None
            if choice == "uvloop" and not installed:
                raise SystemExit("HTTP_EVENT_LOOP=uvloop, but uvloop is not installed (use auto or asyncio)")
            if choice == "auto":
                return "uvloop" if installed else "asyncio"
            return choice

        def job_mode() -> str:
            raw = get("JOB_MODE") or "inline"
            if raw.strip().lower() not in ("inline", "process"):
                raise SystemExit(f"JOB_MODE must be inline or process, got {raw!r}")
            return raw.strip().lower()

        def at_least(name: str, low: int, high: int | None = None) -> int:
            value = integer(name)
            if value < low or (high is not None and value > high):
                bounds = f"from {low} to {high}" if high is not None else f">= {low}"
                raise SystemExit(f"{name} must be {bounds}, got {value}")
            return value

        data_dir = Path(text("ASSESS_DATA_DIR"))
        keys_file = get("SERVICE_KEYS_FILE")
        return cls(
            database_url=get("DATABASE_URL"),
            app_database_url=get("APP_DATABASE_URL"),
            app_db_user=text("APP_DB_USER"),
            app_db_password=get("APP_DB_PASSWORD"),
            data_dir=data_dir,
            keys_file=Path(keys_file) if keys_file else data_dir / "signing-keys.json",
            keys_reload_seconds=seconds("SERVICE_KEYS_RELOAD_SECONDS"),
            service_issuer=text("SERVICE_ISSUER"),
            service_audience=text("SERVICE_AUDIENCE"),
            host=text("HOST"),
            port=integer("PORT"),
            workers=integer("WORKERS"),
            http_backlog=integer("HTTP_BACKLOG"),
            http_connections_per_worker=integer("HTTP_CONNECTIONS_PER_WORKER"),
            http_keep_alive_seconds=positive("HTTP_KEEP_ALIVE_SECONDS"),
            http_event_loop=event_loop(text("HTTP_EVENT_LOOP")),
            pool_min=integer("DB_POOL_MIN"),
            pool_max=integer("DB_POOL_MAX"),
            max_body_bytes=integer("MAX_BODY_BYTES"),
            token_leeway_seconds=integer("TOKEN_LEEWAY_SECONDS"),
            auth_cache_seconds=integer("AUTH_CACHE_SECONDS"),
            client_token_seconds=integer("CLIENT_TOKEN_SECONDS"),
            deadline_sweep_seconds=integer("DEADLINE_SWEEP_SECONDS"),
            log_level=text("LOG_LEVEL").upper(),
            webhook_dispatch_seconds=seconds("WEBHOOK_DISPATCH_SECONDS"),
            webhook_retry_base_seconds=seconds("WEBHOOK_RETRY_BASE_SECONDS"),
            webhook_retry_max_seconds=seconds("WEBHOOK_RETRY_MAX_SECONDS"),
            webhook_allow_loopback=flag("WEBHOOK_ALLOW_LOOPBACK"),
            webhook_retention_days=seconds("WEBHOOK_RETENTION_DAYS"),
            token_rate_per_second=seconds("TOKEN_RATE_PER_SECOND"),
            token_rate_burst=seconds("TOKEN_RATE_BURST"),
            client_rate_per_second=seconds("CLIENT_RATE_PER_SECOND"),
            client_rate_burst=seconds("CLIENT_RATE_BURST"),
            score_export_retention_hours=positive("SCORE_EXPORT_RETENTION_HOURS"),
            auth_failure_rate_per_address=seconds("AUTH_FAILURE_RATE_PER_ADDRESS"),
            auth_failure_burst_per_address=seconds("AUTH_FAILURE_BURST_PER_ADDRESS"),
            auth_failure_rate_total=seconds("AUTH_FAILURE_RATE_TOTAL"),
            auth_failure_burst_total=seconds("AUTH_FAILURE_BURST_TOTAL"),
            console_public_url=(get("CONSOLE_PUBLIC_URL") or "").rstrip("/") or None,
            console_idle_seconds=60 * positive("CONSOLE_SESSION_IDLE_MINUTES"),
            console_max_seconds=3600 * positive("CONSOLE_SESSION_MAX_HOURS"),
            demo=flag("ASSESS_DEMO"),
            trusted_proxies=frozenset(
                p.strip() for p in (get("TRUSTED_PROXIES") or "").split(",") if p.strip()
            ),
            metrics_token=get("METRICS_TOKEN"),
            job_lease_seconds=positive("JOB_LEASE_SECONDS"),
            job_heartbeat_seconds=positive("JOB_HEARTBEAT_SECONDS"),
            job_poll_seconds=seconds("JOB_POLL_SECONDS"),
            job_max_attempts=integer("JOB_MAX_ATTEMPTS"),
            job_mode=job_mode(),
            job_processes=at_least("JOB_PROCESSES", 1),
            job_nice=at_least("JOB_NICE", 0, 19),
            job_process_batches=at_least("JOB_PROCESS_BATCHES", 0),
            test_job_pause_seconds=seconds("ASSESS_TEST_JOB_PAUSE_SECONDS"),
        )
