"""In-memory fakes of every port, recording what they receive and exposing controls.

They are real adapters: each passes its port's contract suite (`tests/contract`). Their harnesses
for those suites live in `ordergate.adapters.fakes.testing`. Nothing here touches the network,
the disk or (for trading time) the wall clock.
"""

from ordergate.adapters.fakes._calls import RecordedCall
from ordergate.adapters.fakes.audit_log import InMemoryAuditLog, MemoryAuditStore
from ordergate.adapters.fakes.broker import FakeBroker
from ordergate.adapters.fakes.clock import FakeClock
from ordergate.adapters.fakes.market_data import FakeMarketData
from ordergate.adapters.fakes.publisher import InMemoryPublisher, PublisherError
from ordergate.adapters.fakes.signal_source import InMemorySignalSource
from ordergate.adapters.fakes.trading_control import InMemoryTradingControl

__all__ = [
    "FakeBroker",
    "FakeClock",
    "FakeMarketData",
    "InMemoryAuditLog",
    "InMemoryPublisher",
    "InMemorySignalSource",
    "InMemoryTradingControl",
    "MemoryAuditStore",
    "PublisherError",
    "RecordedCall",
]
