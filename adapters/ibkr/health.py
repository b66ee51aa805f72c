"""Plain rules of the IB connection manager: paper/live detection, the backoff schedule, the
connection circuit breaker and the typed health value.

Pure and synchronous (the breaker reads an injected monotonic clock), so each rule is tested
without a socket. This module must never import ib_async or touch the network.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import attrs

from ordergate.domain.errors import AccountMismatch
from ordergate.domain.events import ConnectionState
from ordergate.domain.risk.decision import BreakerState

__all__ = [
    "LIVE_PORTS",
    "PAPER_PORTS",
    "BackoffPolicy",
    "ConnectionBreaker",
    "ConnectionHealth",
    "ModeMismatch",
    "TradingMode",
    "check_managed_accounts",
    "detect_mode",
    "mode_for_account",
    "mode_for_port",
]

PAPER_PORTS = frozenset({4002, 7497})
"""IB Gateway and TWS paper-trading API ports."""
LIVE_PORTS = frozenset({4001, 7496})
"""IB Gateway and TWS live-trading API ports."""


class TradingMode(enum.Enum):
    """Paper or live, as told by the port and the account code; UNKNOWN when neither says."""

    PAPER = "paper"
    LIVE = "live"
    UNKNOWN = "unknown"


class ModeMismatch(AccountMismatch):
    """The port, the accounts the gateway reports, the configured account and the expected mode
    disagree (paper versus live, or an account the gateway does not manage)."""


def mode_for_port(port: int) -> TradingMode:
    """4002/7497 are paper, 4001/7496 live; any other port (an emulator on port 0) is UNKNOWN."""
    if port in PAPER_PORTS:
        return TradingMode.PAPER
    if port in LIVE_PORTS:
        return TradingMode.LIVE
    return TradingMode.UNKNOWN


def mode_for_account(account: str) -> TradingMode:
    """IB paper accounts start with `DU`; any other account code is live; none is UNKNOWN."""
    if not account:
        return TradingMode.UNKNOWN
    return TradingMode.PAPER if account.upper().startswith("DU") else TradingMode.LIVE


def detect_mode(port: int, account: str, expected: TradingMode | None = None) -> TradingMode:
    """The mode the port and the account agree on; `ModeMismatch` naming both when they do not
    (or when they contradict `expected`)."""
    by_port, by_account = mode_for_port(port), mode_for_account(account)
    known = {m for m in (by_port, by_account) if m is not TradingMode.UNKNOWN}
    if len(known) > 1:
        raise ModeMismatch(
            f"port {port} is a {by_port.value} port but account {account!r} is a "
            f"{by_account.value} account; refusing to trade until they agree"
        )
    mode = known.pop() if known else TradingMode.UNKNOWN
    if expected is not None and mode not in (expected, TradingMode.UNKNOWN):
        raise ModeMismatch(
            f"configured for {expected.value} trading but port {port} / account {account!r} "
            f"say {mode.value}; refusing to connect"
        )
    return mode


def check_managed_accounts(
    reported: Sequence[str],
    *,
    port: int,
    configured: str = "",
    expected: TradingMode | None = None,
) -> tuple[str, TradingMode]:
    """Check the accounts the gateway reports it is logged into; return (the account traded, the
    mode). Raises `ModeMismatch` naming the accounts when:

    - the gateway reports no account at all;
    - `configured` is set and is not among them (orders would go to an account we did not
      choose, or be refused);
    - any account that would be traded — `configured`, or else every reported one (an order
      without an account goes to the gateway's default) — is paper where `expected` is live or
      live where `expected` is paper, or disagrees with the port (`detect_mode`).
    """
    accounts = [a.strip() for a in reported if a.strip()]
    shown = ", ".join(accounts) or "none"
    if not accounts:
        raise ModeMismatch(
            "the gateway reports no managed account; refusing to trade until it is logged in"
        )
    wanted = configured.strip()
    if wanted and wanted not in accounts:
        raise ModeMismatch(
            f"configured account {wanted!r} is not among the accounts the gateway is logged "
            f"into ({shown}); refusing to trade: log the gateway into that account or fix the "
            "configured account"
        )
    traded = [wanted] if wanted else accounts
    modes = set()
    for account in traded:
        try:
            modes.add(detect_mode(port, account, expected))
        except ModeMismatch as exc:
            raise ModeMismatch(f"{exc} (the gateway is logged into {shown})") from None
    known = modes - {TradingMode.UNKNOWN}
    if len(known) > 1:
        raise ModeMismatch(
            f"the gateway is logged into both paper and live accounts ({shown}) and no account "
            "is configured; refusing to trade until one is chosen"
        )
    return traded[0], known.pop() if known else TradingMode.UNKNOWN


@attrs.frozen
class BackoffPolicy:
    """Exponential reconnect backoff: waits of `initial`, ×`factor` each time, capped at `cap`,
    between at most `attempts` attempts (the first attempt does not wait)."""

    initial: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    attempts: int = 10

    def delay(self, retry: int) -> float:
        """The wait before retry number `retry` (1-based): 1, 2, 4, 8, 16, 30, 30, ..."""
        return float(min(self.initial * self.factor ** (retry - 1), self.cap))

    def delays(self) -> list[float]:
        """Every wait of a full reconnect run, in order."""
        return [self.delay(n) for n in range(1, self.attempts)]


class ConnectionBreaker:
    """CLOSED → OPEN after `threshold` failures in a row → HALF_OPEN once `cooldown` seconds
    have passed (one probe allowed) → CLOSED on a success, OPEN again on a failure."""

    def __init__(
        self,
        threshold: int = 5,
        cooldown: float = 60.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self.failures = 0
        self._monotonic = monotonic
        self._opened_at: float | None = None
        self._state = BreakerState.CLOSED

    @property
    def state(self) -> BreakerState:
        """The state now (OPEN turns HALF_OPEN by itself when the cooldown has passed)."""
        if self._state is BreakerState.OPEN and self.retry_in() == 0:
            self._state = BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """True when an attempt may be made now."""
        return self.state is not BreakerState.OPEN

    def retry_in(self) -> float:
        """Seconds until an attempt is allowed (0 when allowed now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self.cooldown - self._monotonic())

    def record_failure(self) -> None:
        """An attempt failed: count it, open after `threshold` in a row (or any half-open one)."""
        self.failures += 1
        if self._state is BreakerState.HALF_OPEN or self.failures >= self.threshold:
            self._state = BreakerState.OPEN
            self._opened_at = self._monotonic()

    def record_success(self) -> None:
        """An attempt succeeded: close and forget the failures."""
        self.failures = 0
        self._opened_at = None
        self._state = BreakerState.CLOSED


@attrs.frozen
class ConnectionHealth:
    """What `connection_health()` reports. `healthy` needs a live, non-degraded connection whose
    heartbeat is recent (within two intervals) and a closed breaker."""

    state: ConnectionState
    connected: bool
    mode: TradingMode
    last_heartbeat: datetime | None
    heartbeat_age: timedelta | None
    heartbeat_interval: timedelta
    heartbeat_misses: int
    breaker: BreakerState
    reconnect_attempts: int

    @property
    def healthy(self) -> bool:
        """True when orders can flow and nothing is failing."""
        fresh = (
            self.heartbeat_age is not None
            and self.heartbeat_age < 2 * self.heartbeat_interval
        )
        return (
            self.connected
            and self.state is ConnectionState.CONNECTED
            and fresh
            and self.heartbeat_misses == 0
            and self.breaker is BreakerState.CLOSED
        )
