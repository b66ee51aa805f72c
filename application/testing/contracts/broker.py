"""`BrokerContract`: the behaviour every `Broker` adapter must show, as a pytest test class.

Use it from a test module by providing a `broker_harness` fixture that yields a connected
`BrokerHarness` (and closes it), and subclassing the contract::

    import pytest_asyncio
    from ordergate.application.testing.contracts import BrokerContract

    @pytest_asyncio.fixture
    async def broker_harness():
        harness = await MyBrokerHarness.create()
        yield harness
        await harness.close()

    class TestMyBroker(BrokerContract):
        pass

Parametrise the fixture to run the suite over several adapters. The harness's `advance(86400)`
must cross at least one session close (start it on a trading day). The suite must never depend
on one adapter's internals: only the harness controls, the port and the domain.
"""

from __future__ import annotations

from ordergate.application.testing.contracts._broker_session import TIMEOUT, BrokerSession
from ordergate.application.testing.contracts.broker_lifecycle import BrokerLifecycleContract
from ordergate.application.testing.contracts.broker_lists import BrokerOrderListContract
from ordergate.application.testing.contracts.broker_orders import BrokerOrderTypesContract

__all__ = [
    "TIMEOUT",
    "BrokerContract",
    "BrokerLifecycleContract",
    "BrokerOrderListContract",
    "BrokerOrderTypesContract",
    "BrokerSession",
]


class BrokerContract(BrokerOrderTypesContract, BrokerLifecycleContract, BrokerOrderListContract):
    """Every broker contract test: order types and time in force, partial fills, rejections,
    modify/cancel, timeouts, event ordering, execution ids, commissions, queries, brackets, OCA.
    """
