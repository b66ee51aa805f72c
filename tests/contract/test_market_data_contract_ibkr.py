"""The MarketData contract suite on the IBKR adapter over a real loopback socket to the TWS
gateway emulator (`ordergate.adapters.ibkr.testing.IbkrMarketDataHarness`). The suite is imported
unchanged; this module only provides the `market_data_harness` fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from ordergate.adapters.ibkr.testing import IbkrMarketDataHarness
from ordergate.application.testing.contracts import MarketDataContract

pytestmark = pytest.mark.timeout(60)


@pytest_asyncio.fixture
async def market_data_harness() -> AsyncIterator[IbkrMarketDataHarness]:
    """An IbkrMarketData against a fresh emulator."""
    harness = await IbkrMarketDataHarness.create()
    try:
        yield harness
    finally:
        await harness.close()


class TestIbkrMarketDataContract(MarketDataContract):
    """Every MarketData contract test, on IB over the emulator."""
