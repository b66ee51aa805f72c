"""Shared fixtures: where the test services (PostgreSQL, Redis) are, or why a test cannot run.

Services are looked for at their standard loopback ports unless `ORDERGATE_TEST_POSTGRES_DSN` /
`ORDERGATE_TEST_REDIS_URL` say otherwise. When one is absent the tests that need it skip with the
reason — except under `ORDERGATE_REQUIRE_SERVICES=1` (CI), where absence fails them.

Nothing here may print a password: every address shown in a reason is redacted.
"""

from __future__ import annotations

import os
import re
import socket
from urllib.parse import urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "ORDERGATE_TEST_POSTGRES_DSN"
REDIS_ENV = "ORDERGATE_TEST_REDIS_URL"
REQUIRE_ENV = "ORDERGATE_REQUIRE_SERVICES"
POSTGRES_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
_PROBE_TIMEOUT = 2.0
_PASSWORD_PARAM = re.compile(r"(password\s*=\s*)('[^']*'|[^&\s]+)", re.IGNORECASE)


def redact(url: str) -> str:
    """`url` (URL or libpq key=value DSN) with any password replaced by `***`."""
    shown = _PASSWORD_PARAM.sub(r"\1***", url)
    if "://" not in shown:
        return shown
    parts = urlsplit(shown)
    if parts.password is None:
        return shown
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def service_absent(reason: str) -> None:
    """Skip the test with `reason`, or fail it when services are required."""
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_ENV}=1: services are required)", pytrace=False)
    pytest.skip(reason)


def _postgres_problem(dsn: str) -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'ordergate[postgres]')"
    try:
        with psycopg.connect(dsn, connect_timeout=int(_PROBE_TIMEOUT)) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"PostgreSQL not reachable at {redact(dsn)}: {first_line}"
    return None


def _redis_problem(url: str) -> str | None:
    try:
        import redis
    except ImportError:
        return "redis-py is not installed (pip install 'ordergate[redis]')"
    parts = urlsplit(url)
    try:  # a plain socket first: a refused port answers at once, whatever the client's retries
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or 6379), timeout=_PROBE_TIMEOUT
        ):
            pass
        client = redis.Redis.from_url(url, socket_timeout=_PROBE_TIMEOUT)
        try:
            client.ping()
        finally:
            client.close()
    except (OSError, redis.RedisError) as exc:
        return f"Redis not reachable at {redact(url)}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """A DSN of a reachable PostgreSQL (env override, else postgres@ or root@ on loopback)."""
    override = os.environ.get(POSTGRES_ENV)
    candidates = (override,) if override else POSTGRES_CANDIDATES
    problems = []
    for dsn in candidates:
        problem = _postgres_problem(dsn)
        if problem is None:
            return dsn
        problems.append(problem)
    service_absent("; ".join(problems) + f" (set {POSTGRES_ENV} to point elsewhere)")
    raise AssertionError("unreachable")  # service_absent always raises


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A URL of a reachable Redis (env override, else 127.0.0.1:6379)."""
    url = os.environ.get(REDIS_ENV) or REDIS_DEFAULT
    problem = _redis_problem(url)
    if problem is not None:
        service_absent(f"{problem} (set {REDIS_ENV} to point elsewhere)")
    return url
