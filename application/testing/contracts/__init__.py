"""Port contract suites: pytest test classes that prove an adapter behaves like the port says.

Each suite is a class to subclass in a test module that provides the harness fixture it names:

- `BrokerContract`: fixture `broker_harness`, a `testing.harness.BrokerHarness`;
- `MarketDataContract`: `market_data_harness`, a `testing.harness.MarketDataHarness`;
- `AuditLogContract`: `audit_log_harness`, a `testing.harness.AuditLogHarness`;
- `ClockContract`: `clock_harness`, a `ClockHarness` (defined here);
- `PublisherContract`: `publisher_harness`, a `PublisherHarness` (defined here);
- `SignalSourceContract`: `signal_source_harness`, a `SignalSourceHarness` (defined here).

The suites are async tests for pytest-asyncio (`asyncio_mode = "auto"`, or mark the subclass
with `pytest.mark.asyncio`). They use only harnesses, ports and the domain: importing this
package never imports an adapter.
"""

from ordergate.application.testing.contracts.audit_log import AuditLogContract
from ordergate.application.testing.contracts.broker import (
    BrokerContract,
    BrokerLifecycleContract,
    BrokerOrderListContract,
    BrokerOrderTypesContract,
    BrokerSession,
)
from ordergate.application.testing.contracts.clock import ClockContract, ClockHarness
from ordergate.application.testing.contracts.market_data import MarketDataContract
from ordergate.application.testing.contracts.publisher import PublisherContract, PublisherHarness
from ordergate.application.testing.contracts.signal_source import (
    SignalSourceContract,
    SignalSourceHarness,
)

__all__ = [
    "AuditLogContract",
    "BrokerContract",
    "BrokerLifecycleContract",
    "BrokerOrderListContract",
    "BrokerOrderTypesContract",
    "BrokerSession",
    "ClockContract",
    "ClockHarness",
    "MarketDataContract",
    "PublisherContract",
    "PublisherHarness",
    "SignalSourceContract",
    "SignalSourceHarness",
]
