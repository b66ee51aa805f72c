"""Interactive Brokers adapter on ib_async (the only place ib_async is imported).

`IbkrBroker` implements the `Broker` port, `IbkrMarketData` the `MarketData` port; `IbkrConfig`
configures both. See docs/ibkr.md. Nothing here connects at import time, and no ib_async type or
float ever crosses a port.
"""

from ordergate.adapters.ibkr.broker import IbkrBroker
from ordergate.adapters.ibkr.connection import (
    CLI_CLIENT_ID,
    DIAGNOSTIC_CLIENT_ID,
    TRADING_CLIENT_ID,
    IbkrConfig,
    IbkrConnection,
)
from ordergate.adapters.ibkr.health import (
    BackoffPolicy,
    ConnectionBreaker,
    ConnectionHealth,
    ModeMismatch,
    TradingMode,
    detect_mode,
)
from ordergate.adapters.ibkr.market_data import IbkrMarketData
from ordergate.adapters.ibkr.resync import AppliedExecutions, ResyncReport

__all__ = [
    "CLI_CLIENT_ID",
    "DIAGNOSTIC_CLIENT_ID",
    "TRADING_CLIENT_ID",
    "AppliedExecutions",
    "BackoffPolicy",
    "ConnectionBreaker",
    "ConnectionHealth",
    "IbkrBroker",
    "IbkrConfig",
    "IbkrConnection",
    "IbkrMarketData",
    "ModeMismatch",
    "ResyncReport",
    "TradingMode",
    "detect_mode",
]
