"""The mutable order record behind `InstantEngine`: what was asked, where it stands, what filled.

Plain state with a `view()` that freezes it into the engine interface's `OrderView`. No matching
logic (see `instant_matching.py`), no I/O, never `ib_async`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine_types import (
    ContractSpec,
    OrderKey,
    OrderSpec,
    OrderStatus,
    OrderType,
    OrderView,
)
from ordergate.adapters.gateway_sim.instant_matching import StopState
from ordergate.domain.values import ZERO

_TRAILING_TYPES = (OrderType.TRAILING_STOP, OrderType.TRAILING_STOP_LIMIT)

__all__ = ["OrderRecord"]


@attrs.define
class OrderRecord:
    """One order as `InstantEngine` keeps it: spec, status, fills so far, stop state."""

    key: OrderKey
    perm_id: int
    contract: ContractSpec
    spec: OrderSpec
    account: str
    status: OrderStatus = OrderStatus.HELD
    transmitted: bool = False
    filled: Decimal = ZERO
    notional: Decimal = ZERO
    last_fill_price: Decimal = ZERO
    stop: StopState = attrs.Factory(StopState)
    reason: str = ""
    updated_at: datetime | None = None

    def view(self) -> OrderView:
        """The record frozen as the engine interface's `OrderView`."""
        return OrderView(
            key=self.key,
            perm_id=self.perm_id,
            contract=self.contract,
            spec=self.spec,
            status=self.status,
            filled=self.filled,
            remaining=self.spec.quantity - self.filled,
            avg_fill_price=self.notional / self.filled if self.filled else ZERO,
            last_fill_price=self.last_fill_price,
            account=self.account,
            updated_at=self.updated_at,
            reason=self.reason,
            trail_stop_price=(self.stop.current_stop(self.contract, self.spec)
                              if self.spec.order_type in _TRAILING_TYPES else None),
        )
