"""The engine interface the TWS gateway emulator drives, in plain typed values.

The emulator's server owns the wire protocol; an engine owns trading and market state: the contract
catalogue, orders and their matching, executions and commissions, positions, account values, PnL,
quotes and bars. Everything crossing this interface is a value from `engine_types` (Decimal prices
and quantities, aware UTC datetimes) — never IB wire strings, tick types or message ids.

Implementations: `InstantEngine` (in this package, used when no simulator is plugged in) and the
sim matching engine (`ordergate.adapters.sim`). This module must never import the server, a socket
library or `ib_async`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

import attrs

from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    BarRequest,
    BarSource,
    ContractQuery,
    ContractSpec,
    ExecutionReport,
    MarginImpact,
    MarketSnapshot,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    OrderView,
    PnLSingleView,
    PnLView,
    PositionView,
    SecType,
    TimeInForce,
)
from ordergate.domain.market import Bar

__all__ = [
    "AccountSnapshot",
    "BarRequest",
    "BarSource",
    "ContractQuery",
    "ContractSpec",
    "EngineEvent",
    "EngineListener",
    "EngineRefusal",
    "ExecutionReport",
    "GatewayEngine",
    "MarginImpact",
    "MarketSnapshot",
    "OptionSettled",
    "OrderExecuted",
    "OrderKey",
    "OrderRejected",
    "OrderSpec",
    "OrderStatus",
    "OrderType",
    "OrderUpdated",
    "OrderView",
    "PnLSingleView",
    "PnLView",
    "PositionView",
    "RefusalReason",
    "SecType",
    "TimeInForce",
]


class RefusalReason(enum.Enum):
    """Why an engine refused a request; the server maps each to an IB error code."""

    UNKNOWN_CONTRACT = "unknown_contract"
    UNKNOWN_ACCOUNT = "unknown_account"
    INVALID_REQUEST = "invalid_request"
    INVALID_ORDER = "invalid_order"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    DUPLICATE_ORDER_ID = "duplicate_order_id"
    ORDER_NOT_FOUND = "order_not_found"
    NOT_CANCELLABLE = "not_cancellable"
    MODIFY_NOT_ALLOWED = "modify_not_allowed"
    NO_MARKET_DATA = "no_market_data"


class EngineRefusal(Exception):
    """Raised by an engine that will not do what was asked (place, cancel, what-if, bars)."""

    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


@attrs.frozen
class OrderUpdated:
    """An order was accepted, modified, activated, partly or fully filled, or cancelled."""

    order: OrderView


@attrs.frozen
class OrderExecuted:
    """An execution happened (commission included)."""

    execution: ExecutionReport


@attrs.frozen
class OrderRejected:
    """An order accepted earlier was rejected later (e.g. after simulated latency)."""

    key: OrderKey
    reason: RefusalReason
    detail: str


@attrs.frozen
class OptionSettled:
    """An option position of `account` was settled at expiry, as IB reports it: `executions`
    are the exercise or assignment legs (the option removed at price 0, the stock delivered at
    the strike; none for a lapse), `contracts` the contracts whose positions changed."""

    account: str
    executions: tuple[ExecutionReport, ...]
    contracts: tuple[ContractSpec, ...]


EngineEvent = OrderUpdated | OrderExecuted | OrderRejected | OptionSettled
EngineListener = Callable[[EngineEvent], None]


class GatewayEngine(Protocol):
    """What the gateway emulator needs from a trading engine.

    Contract:
    - All calls happen on the event loop's thread and return promptly (no blocking I/O).
    - Order events go to every registered listener, in causal order for each order: an
      `OrderUpdated` announcing an order precedes its first `OrderExecuted`; the `OrderUpdated`
      that reports a fill follows the `OrderExecuted` for it. Listeners may be called from inside
      `place_order`/`cancel_order` or later from the engine's own tasks.
    - `place_order` with a key the engine knows and whose order is live is a modification (same
      contract and side); with a key whose order is done it raises `EngineRefusal`
      (DUPLICATE_ORDER_ID). Invalid orders raise `EngineRefusal` and change nothing.
    - Every modification, even one that changes nothing, produces an `OrderUpdated`.
    - `perm_id`s are unique across clients and never reused; `exec_id`s likewise.
    - Prices and quantities are Decimal, times aware UTC, positions signed (short < 0).
    """

    def accounts(self) -> Sequence[str]:
        """Account codes this engine manages (at least one)."""
        ...

    def now(self) -> datetime:
        """The engine's clock (simulated time for a replaying simulator), aware UTC."""
        ...

    def qualify(self, query: ContractQuery) -> Sequence[ContractSpec]:
        """Every contract matching `query`; empty when none does."""
        ...

    def place_order(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> None:
        """Accept a new order or modify a live one; raises `EngineRefusal`."""
        ...

    def cancel_order(self, key: OrderKey) -> None:
        """Cancel a live order; raises `EngineRefusal` (ORDER_NOT_FOUND, NOT_CANCELLABLE)."""
        ...

    def cancel_all(self) -> None:
        """Cancel every live order of every client."""
        ...

    def what_if(self, key: OrderKey, contract: ContractSpec, spec: OrderSpec) -> MarginImpact:
        """Margin and commission impact of `spec`, without placing it; raises `EngineRefusal`."""
        ...

    def open_orders(self) -> Sequence[OrderView]:
        """Every live order of every client, oldest first."""
        ...

    def completed_orders(self) -> Sequence[OrderView]:
        """Every done order (filled, cancelled, inactive) of every client, oldest first."""
        ...

    def executions(self) -> Sequence[ExecutionReport]:
        """Every execution of every client, oldest first."""
        ...

    def positions(self, account: str) -> Sequence[PositionView]:
        """Non-zero positions of `account`."""
        ...

    def account_snapshot(self, account: str) -> AccountSnapshot:
        """Current account values of `account`."""
        ...

    def pnl(self, account: str) -> PnLView:
        """Account-level PnL of `account`."""
        ...

    def pnl_single(self, account: str, con_id: int) -> PnLSingleView | None:
        """PnL of one position; None when `con_id` is unknown."""
        ...

    def snapshot(self, con_id: int) -> MarketSnapshot | None:
        """The current quote of `con_id`; None when the engine has no market data for it."""
        ...

    def bars(self, request: BarRequest) -> Sequence[Bar]:
        """Historical bars, oldest first; raises `EngineRefusal` (NO_MARKET_DATA) without data."""
        ...

    def add_listener(self, listener: EngineListener) -> None:
        """Register `listener` for order events."""
        ...

    def remove_listener(self, listener: EngineListener) -> None:
        """Stop sending order events to `listener` (unknown listeners are ignored)."""
        ...
