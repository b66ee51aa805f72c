"""`IbkrConfig`: where the IB adapter connects and how it behaves — host, port and client id,
the IB account and the operator id, timeouts, heartbeat, reconnect backoff, the connection
breaker. Plain values validated at construction; reading them never connects anything, and the
operator id is never allowed into `Order.account`.
"""

from __future__ import annotations

from typing import Any

import attrs

from ordergate.adapters.ibkr.health import BackoffPolicy, TradingMode

__all__ = ["CLI_CLIENT_ID", "DIAGNOSTIC_CLIENT_ID", "TRADING_CLIENT_ID", "IbkrConfig"]

TRADING_CLIENT_ID = 1
"""The client id of the trading connection."""
DIAGNOSTIC_CLIENT_ID = 2
"""The client id of diagnostics (market data on its own connection, health checks)."""
CLI_CLIENT_ID = 3
"""The client id of the command-line tool."""


def _positive(inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if value <= 0:
        raise ValueError(f"IbkrConfig.{attribute.name} must be > 0; got {value}")


@attrs.frozen
class IbkrConfig:
    """Where and how to connect. `account` is the IB account code (empty: the only managed
    account); `operator_id` travels in every order's `orderRef`, never in `Order.account`."""

    operator_id: str = attrs.field()
    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = TRADING_CLIENT_ID
    account: str = ""
    expected_mode: TradingMode | None = None
    connect_timeout: float = attrs.field(default=10.0, validator=_positive)
    heartbeat_interval: float = attrs.field(default=30.0, validator=_positive)
    heartbeat_timeout: float = attrs.field(default=10.0, validator=_positive)
    heartbeat_misses: int = 2
    backoff: BackoffPolicy = BackoffPolicy()
    breaker_threshold: int = 5
    breaker_cooldown: float = 60.0
    probe_interval: float | None = 0.25
    commission_grace: float = attrs.field(default=1.0, validator=_positive)
    max_requests_per_second: int = attrs.field(default=45)
    """ib_async's request throttle (`client.MaxRequests` per second): 45, IB's safe rate against
    its pacing violations; 0 sends without a throttle (for the local gateway emulator)."""

    @max_requests_per_second.validator
    def _check_rate(self, attribute: attrs.Attribute[int], value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(
                f"IbkrConfig.max_requests_per_second must be an integer >= 0 (0: no throttle); "
                f"got {value!r}"
            )

    @operator_id.validator
    def _check_operator(self, attribute: attrs.Attribute[str], value: str) -> None:
        if not isinstance(value, str) or not value.strip() or ":" in value:
            raise ValueError(
                f"IbkrConfig.operator_id must be a non-empty id without ':' "
                f"(it prefixes every orderRef); got {value!r}"
            )
