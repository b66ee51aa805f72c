"""ordergate: an order-execution core with a mandatory pre-trade risk gate.

Everything an embedding application needs is importable from here::

    import ordergate

    async with ordergate.open("ordergate.toml") as gate:
        results = await gate.submit_signal(ordergate.Signal(...))

`open` builds the gate the configuration selects, owns every resource it opened and closes them
when the block ends; on the simulated broker `gate.simulation` moves the market. Names are
loaded on first use, so `import ordergate` stays cheap, and an adapter's SDK (ib_async, psycopg,
redis) is imported only when a configuration selects that adapter.

The layers live in the subpackages `ordergate.domain`, `ordergate.ports`,
`ordergate.application` and `ordergate.adapters` (docs/architecture.md).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from ordergate.application.bootstrap import open_gate as open
    from ordergate.application.config import ConfigError, Settings, load_settings
    from ordergate.application.facade import OrderGate
    from ordergate.application.results import ExecutionMode, OrderResult, OrderResultStatus
    from ordergate.application.session import MomentumStrategyA, SessionSummary, Strategy
    from ordergate.application.simulation import Simulation
    from ordergate.domain.errors import (
        BrokerError,
        BrokerRejected,
        BrokerTimeout,
        InvalidValue,
        OrdergateError,
    )
    from ordergate.domain.indicators.snapshot import MarketSnapshot
    from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
    from ordergate.domain.instruments import OptionContract as Option
    from ordergate.domain.orders.enums import OrderStatus, OrderType, TimeInForce
    from ordergate.domain.orders.request import (
        BracketRequest,
        ClosureReason,
        OcaGroup,
        OrderRequest,
    )
    from ordergate.domain.portfolio.position import Position
    from ordergate.domain.signals import Signal
    from ordergate.domain.values import ClientOrderId, InstrumentId, Side, SignalId


_EXPORTS: dict[str, tuple[str, str]] = {
    "open": ("ordergate.application.bootstrap", "open_gate"),
    "ConfigError": ("ordergate.application.config", "ConfigError"),
    "Settings": ("ordergate.application.config", "Settings"),
    "load_settings": ("ordergate.application.config", "load_settings"),
    "OrderGate": ("ordergate.application.facade", "OrderGate"),
    "ExecutionMode": ("ordergate.application.results", "ExecutionMode"),
    "OrderResult": ("ordergate.application.results", "OrderResult"),
    "OrderResultStatus": ("ordergate.application.results", "OrderResultStatus"),
    "MomentumStrategyA": ("ordergate.application.session", "MomentumStrategyA"),
    "SessionSummary": ("ordergate.application.session", "SessionSummary"),
    "Strategy": ("ordergate.application.session", "Strategy"),
    "Simulation": ("ordergate.application.simulation", "Simulation"),
    "BrokerError": ("ordergate.domain.errors", "BrokerError"),
    "BrokerRejected": ("ordergate.domain.errors", "BrokerRejected"),
    "BrokerTimeout": ("ordergate.domain.errors", "BrokerTimeout"),
    "InvalidValue": ("ordergate.domain.errors", "InvalidValue"),
    "OrdergateError": ("ordergate.domain.errors", "OrdergateError"),
    "MarketSnapshot": ("ordergate.domain.indicators.snapshot", "MarketSnapshot"),
    "Instrument": ("ordergate.domain.instruments", "Instrument"),
    "Option": ("ordergate.domain.instruments", "OptionContract"),
    "OptionContract": ("ordergate.domain.instruments", "OptionContract"),
    "OptionRight": ("ordergate.domain.instruments", "OptionRight"),
    "Stock": ("ordergate.domain.instruments", "Stock"),
    "OrderStatus": ("ordergate.domain.orders.enums", "OrderStatus"),
    "OrderType": ("ordergate.domain.orders.enums", "OrderType"),
    "TimeInForce": ("ordergate.domain.orders.enums", "TimeInForce"),
    "BracketRequest": ("ordergate.domain.orders.request", "BracketRequest"),
    "ClosureReason": ("ordergate.domain.orders.request", "ClosureReason"),
    "OcaGroup": ("ordergate.domain.orders.request", "OcaGroup"),
    "OrderRequest": ("ordergate.domain.orders.request", "OrderRequest"),
    "Position": ("ordergate.domain.portfolio.position", "Position"),
    "Signal": ("ordergate.domain.signals", "Signal"),
    "ClientOrderId": ("ordergate.domain.values", "ClientOrderId"),
    "InstrumentId": ("ordergate.domain.values", "InstrumentId"),
    "Side": ("ordergate.domain.values", "Side"),
    "SignalId": ("ordergate.domain.values", "SignalId"),
}

__all__ = [
    "BracketRequest",
    "BrokerError",
    "BrokerRejected",
    "BrokerTimeout",
    "ClientOrderId",
    "ClosureReason",
    "ConfigError",
    "ExecutionMode",
    "Instrument",
    "InstrumentId",
    "InvalidValue",
    "MarketSnapshot",
    "MomentumStrategyA",
    "OcaGroup",
    "Option",
    "OptionContract",
    "OptionRight",
    "OrderGate",
    "OrderRequest",
    "OrderResult",
    "OrderResultStatus",
    "OrderStatus",
    "OrderType",
    "OrdergateError",
    "Position",
    "SessionSummary",
    "Settings",
    "Side",
    "Signal",
    "SignalId",
    "Simulation",
    "Stock",
    "Strategy",
    "TimeInForce",
    "__version__",
    "load_settings",
    "open",
]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562), then keep it in the module."""
    if name == "__version__":  # importlib.metadata costs ~0.1 s: only when asked
        from importlib.metadata import PackageNotFoundError, version  # noqa: PLC0415

        try:
            found = version("ordergate")
        except PackageNotFoundError:  # pragma: no cover - a tree that was never installed
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    try:
        module, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'ordergate' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS, "__version__"})
