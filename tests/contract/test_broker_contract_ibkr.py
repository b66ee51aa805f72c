"""The Broker contract suite on the IBKR adapter: unmodified ib_async over a real loopback socket
to the TWS gateway emulator (`ordergate.adapters.ibkr.testing.IbkrBrokerHarness`).

The suite is imported unchanged; this module only provides the `broker_harness` fixture (it
overrides the conftest's, which parametrises the in-process adapters).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ordergate.adapters.ibkr.testing import IbkrBrokerHarness
from ordergate.application.testing.contracts import BrokerContract

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def broker_harness() -> AsyncIterator[IbkrBrokerHarness]:
    """A connected IbkrBroker against a fresh emulator."""
    harness = await IbkrBrokerHarness.create()
    try:
        yield harness
    finally:
        await harness.close()


class TestIbkrBrokerContract(BrokerContract):
    """Every Broker contract test, on IB over the emulator."""
