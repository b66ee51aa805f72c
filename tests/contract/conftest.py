"""Harness fixtures for the port contract suites, parametrised over every adapter of each port.

An adapter joins a suite by shipping a harness (`adapters/<name>/testing.py`) and being listed
here. Adapters that need a service (PostgreSQL, Redis) get it from the shared fixtures in
`tests/conftest.py`, which skip with a reason when it is absent. Every harness is closed after
its test.
"""

from __future__ import annotations

import importlib
import importlib.util
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


def _optional(module: str, name: str, *fixtures: str) -> Factory | None:
    """A factory for `module.name.create(*fixtures)` once that module exists (adapters still
    being written join the suites as soon as their harness lands)."""
    if importlib.util.find_spec(module) is None:
        return None
    harness = getattr(importlib.import_module(module), name, None)
    if harness is None:

        def missing(request: pytest.FixtureRequest) -> Awaitable[Any]:
            pytest.fail(f"{module} exists but has no {name}: list its harness in this conftest")

        return missing
    create = harness.create

    def factory(request: pytest.FixtureRequest) -> Awaitable[Any]:
        return create(*(request.getfixturevalue(fixture) for fixture in fixtures))  # type: ignore[no-any-return]

    return factory


def _registry(**factories: Factory | None) -> dict[str, Factory]:
    return {name: factory for name, factory in factories.items() if factory is not None}


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
    postgres=_optional(
        "ordergate.adapters.postgres.testing", "PostgresAuditLogHarness", "postgres_dsn"
    ),
)
CLOCKS = _registry(fake=lambda _: FakeClockHarness.create())
PUBLISHERS = _registry(
    memory=lambda _: InMemoryPublisherHarness.create(),
    redis=_optional("ordergate.adapters.redis.testing", "RedisPublisherHarness", "redis_url"),
)
SIGNAL_SOURCES = _registry(
    memory=lambda _: InMemorySignalSourceHarness.create(),
    redis=_optional("ordergate.adapters.redis.testing", "RedisSignalSourceHarness", "redis_url"),
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
