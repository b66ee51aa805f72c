"""Harness fixtures for the port contract suites, parametrised over every adapter of each port.

An adapter joins a suite by shipping a harness (`adapters/<name>/testing.py`) and being listed
here. Adapters that need a service (PostgreSQL, Redis) get it from the shared fixtures in
`tests/conftest.py`, which skip with a reason when it is absent (and fail under
`ORDERGATE_REQUIRE_SERVICES=1`). Every harness is closed after its test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio

from ordergate.adapters.fakes.testing import (
    FakeBrokerHarness,
    FakeClockHarness,
    FakeMarketDataHarness,
    InMemoryAuditLogHarness,
    InMemoryPublisherHarness,
    InMemorySignalSourceHarness,
)
from ordergate.adapters.sim.testing import SimBrokerHarness, SimMarketDataHarness
from ordergate.adapters.sqlite.testing import SqliteAuditLogHarness

Factory = Callable[[pytest.FixtureRequest], Awaitable[Any]]


def _postgres_audit_log(request: pytest.FixtureRequest) -> Awaitable[Any]:
    dsn = request.getfixturevalue("postgres_dsn")  # skips (fails under CI) without PostgreSQL
    # Imported here: psycopg is an optional extra, and its absence must skip, not break collection.
    from ordergate.adapters.postgres.testing import PostgresAuditLogHarness

    return PostgresAuditLogHarness.create(dsn)


def _redis_publisher(request: pytest.FixtureRequest) -> Awaitable[Any]:
    url = request.getfixturevalue("redis_url")  # skips (fails under CI) without Redis
    from ordergate.adapters.redis.testing import RedisPublisherHarness

    return RedisPublisherHarness.create(url)


def _redis_signal_source(request: pytest.FixtureRequest) -> Awaitable[Any]:
    url = request.getfixturevalue("redis_url")
    from ordergate.adapters.redis.testing import RedisSignalSourceHarness

    return RedisSignalSourceHarness.create(url)


def _registry(**factories: Factory) -> dict[str, Factory]:
    return factories


BROKERS = _registry(
    fake=lambda _: FakeBrokerHarness.create(),
    sim=lambda _: SimBrokerHarness.create(),
)
MARKET_DATA = _registry(
    fake=lambda _: FakeMarketDataHarness.create(),
    sim=lambda _: SimMarketDataHarness.create(),
)
AUDIT_LOGS = _registry(
    memory=lambda _: InMemoryAuditLogHarness.create(),
    sqlite=lambda request: SqliteAuditLogHarness.create(request.getfixturevalue("tmp_path")),
    postgres=_postgres_audit_log,
)
CLOCKS = _registry(fake=lambda _: FakeClockHarness.create())
PUBLISHERS = _registry(
    memory=lambda _: InMemoryPublisherHarness.create(),
    redis=_redis_publisher,
)
SIGNAL_SOURCES = _registry(
    memory=lambda _: InMemorySignalSourceHarness.create(),
    redis=_redis_signal_source,
)


async def _open(
    factories: dict[str, Factory], request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    harness = await factories[request.param](request)
    try:
        yield harness
    finally:
        await harness.close()


@pytest_asyncio.fixture(params=sorted(BROKERS))
async def broker_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A connected broker harness, per adapter."""
    async for harness in _open(BROKERS, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(MARKET_DATA))
async def market_data_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A market-data harness, per adapter."""
    async for harness in _open(MARKET_DATA, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(AUDIT_LOGS))
async def audit_log_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An audit-log harness over an empty store, per adapter."""
    async for harness in _open(AUDIT_LOGS, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(CLOCKS))
async def clock_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A clock harness, per adapter."""
    async for harness in _open(CLOCKS, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(PUBLISHERS))
async def publisher_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A publisher harness with one subscriber, per adapter."""
    async for harness in _open(PUBLISHERS, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(SIGNAL_SOURCES))
async def signal_source_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A signal-source harness over an empty queue, per adapter."""
    async for harness in _open(SIGNAL_SOURCES, request):
        yield harness
