"""Harness fixtures for the port contract suites, parametrised over every adapter of each port.

An adapter joins a suite by shipping a harness (`adapters/<name>/testing.py`) and being listed
here. Every harness is closed after its test.
"""

from __future__ import annotations

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

Factory = Callable[[], Awaitable[Any]]


def _optional(module: str, name: str) -> Factory | None:
    """`module.name.create` if the module exists yet (teammates' adapters land over time)."""
    if importlib.util.find_spec(module) is None:
        return None
    return getattr(importlib.import_module(module), name).create  # type: ignore[no-any-return]


def _registry(**factories: Factory | None) -> dict[str, Factory]:
    return {name: factory for name, factory in factories.items() if factory is not None}


BROKERS = _registry(
    fake=FakeBrokerHarness.create,
    sim=_optional("ordergate.adapters.sim.testing", "SimBrokerHarness"),
)
MARKET_DATA = _registry(
    fake=FakeMarketDataHarness.create,
    sim=_optional("ordergate.adapters.sim.testing", "SimMarketDataHarness"),
)
AUDIT_LOGS = _registry(
    memory=InMemoryAuditLogHarness.create,
)


async def _open(
    factories: dict[str, Factory], request: pytest.FixtureRequest
) -> AsyncIterator[Any]:
    harness = await factories[request.param]()
    try:
        yield harness
    finally:
        await harness.close()


@pytest_asyncio.fixture(params=sorted(BROKERS))
async def broker_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A connected broker harness per adapter."""
    async for harness in _open(BROKERS, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(MARKET_DATA))
async def market_data_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A market-data harness per adapter."""
    async for harness in _open(MARKET_DATA, request):
        yield harness


@pytest_asyncio.fixture(params=sorted(AUDIT_LOGS))
async def audit_log_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """An audit-log harness over an empty store, per adapter."""
    async for harness in _open(AUDIT_LOGS, request):
        yield harness


@pytest_asyncio.fixture(params=["fake"])
async def clock_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A clock harness per adapter."""
    async for harness in _open({"fake": FakeClockHarness.create}, request):
        yield harness


@pytest_asyncio.fixture(params=["memory"])
async def publisher_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A publisher harness per adapter."""
    async for harness in _open({"memory": InMemoryPublisherHarness.create}, request):
        yield harness


@pytest_asyncio.fixture(params=["memory"])
async def signal_source_harness(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A signal-source harness per adapter."""
    async for harness in _open({"memory": InMemorySignalSourceHarness.create}, request):
        yield harness
