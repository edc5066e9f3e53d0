"""Connection URLs: which server, and as which role."""

from __future__ import annotations

from urllib.parse import quote, urlsplit, urlunsplit

from service.config import Settings


def with_user(url: str, user: str, password: str | None) -> str:
    """The same server and database as `url`, logged in as another role."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = quote(user, safe="")
    if password:
        netloc += ":" + quote(password, safe="")
    netloc += "@" + host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/") or "postgres"


def app_url(settings: Settings, owner_url: str) -> str:
    """Where the running service connects: never as the owner of the tables."""
    if settings.app_database_url:
        return settings.app_database_url
    return with_user(owner_url, settings.app_db_user, settings.app_db_password)


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
    return url
