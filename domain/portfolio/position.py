"""`Position`: one instrument's signed quantity, cost basis and PnL, built from fills.

Accounting keeps the open *cost basis* (signed money paid for the open quantity) rather than only
an average price, so that cash + position value == start + realized + unrealized − commissions
holds exactly in Decimal arithmetic: the cost removed by a reducing fill is computed once and
used both for realized PnL and for the remaining basis.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from ordergate.domain.errors import DuplicateExecution
from ordergate.domain.instruments import Instrument
from ordergate.domain.orders.events import CommissionReport, ExecutionFill
from ordergate.domain.values import ZERO, ExecutionId, InstrumentId

__all__ = ["Position"]

_BASIS_QUANTUM = Decimal("1e-12")


class Position:
    """Signed position in one instrument. Changes only through `apply`."""

    __slots__ = (
        "_executions",
        "commissions",
        "cost_basis",
        "instrument",
        "last_fill_at",
        "opened_at",
        "quantity",
        "realized_pnl",
    )

    def __init__(self, instrument: Instrument) -> None:
        self.instrument = instrument
        self.quantity = ZERO
        self.cost_basis = ZERO
        self.realized_pnl = ZERO
        self.commissions = ZERO
        self.opened_at: datetime | None = None
        self.last_fill_at: datetime | None = None
        self._executions: dict[ExecutionId, tuple[Decimal, Decimal]] = {}

    @classmethod
    def from_fills(cls, instrument: Instrument, fills: list[ExecutionFill]) -> Position:
        """Build a position by applying `fills` in order (duplicates are ignored)."""
        position = cls(instrument)
        for fill in fills:
            position.apply(fill)
        return position

    @property
    def instrument_id(self) -> InstrumentId:
        return self.instrument.id

    @property
    def multiplier(self) -> Decimal:
        return self.instrument.multiplier

    @property
    def is_flat(self) -> bool:
        return self.quantity == 0

    @property
    def avg_open_price(self) -> Decimal | None:
        """Average price of the open quantity; None when flat."""
        if self.quantity == 0:
            return None
        return self.cost_basis / (self.quantity * self.multiplier)

    def has_execution(self, execution_id: ExecutionId) -> bool:
        return execution_id in self._executions

    def notional(self, mark: Decimal) -> Decimal:
        """Absolute market value at `mark`."""
        return abs(self.quantity) * mark * self.multiplier

    def market_value(self, mark: Decimal) -> Decimal:
        """Signed market value at `mark`."""
        return self.quantity * mark * self.multiplier

    def unrealized_pnl(self, mark: Decimal) -> Decimal:
        """Gain (+) or loss (−) of the open quantity at `mark`."""
        return self.market_value(mark) - self.cost_basis

    def unrealized_pct(self, mark: Decimal) -> Decimal:
        """Unrealized PnL as a fraction of the absolute cost basis (−0.4 is a 40% loss)."""
        if self.cost_basis == 0:
            return ZERO
        return self.unrealized_pnl(mark) / abs(self.cost_basis)

    def days_to_expiry(self, now: datetime) -> int | None:
        """Exchange calendar days to expiry for options, None for stocks."""
        if self.instrument.is_option:
            return self.instrument.days_to_expiry(now)  # type: ignore[union-attr]
        return None

    def apply(self, fill: ExecutionFill) -> Decimal:
        """Apply a fill once per execution id; return the PnL it realized (zero for a repeat)."""
        known = self._executions.get(fill.execution_id)
        if known is not None:
            if known != (fill.signed_quantity, fill.price):
                raise DuplicateExecution(
                    f"execution {fill.execution_id} applied as {known[0]}@{known[1]}, "
                    f"arrived again as {fill.signed_quantity}@{fill.price}"
                )
            return ZERO
        self._executions[fill.execution_id] = (fill.signed_quantity, fill.price)
        if fill.commission is not None:
            self.commissions += fill.commission
        realized, opened = self._trade(fill.signed_quantity, fill.price)
        if opened:
            self.opened_at = fill.ts_event
        elif self.quantity == 0:
            self.opened_at = None
        self.last_fill_at = fill.ts_event
        return realized

    def deliver(self, signed_qty: Decimal, price: Decimal, ts: datetime) -> Decimal:
        """Move the position by a settlement leg (an option removed at expiry, stock delivered
        by an exercise or assignment) at `price`, which may be zero; return the realised PnL.
        Not an execution: the caller applies each settlement once."""
        realized, opened = self._trade(signed_qty, price)
        if opened:
            self.opened_at = ts
        elif self.quantity == 0:
            self.opened_at = None
        self.last_fill_at = ts
        return realized

    def add_commission(self, report: CommissionReport) -> None:
        """Add a commission reported after its fill. The portfolio calls this once per execution."""
        self.commissions += report.commission

    def _trade(self, signed_qty: Decimal, price: Decimal) -> tuple[Decimal, bool]:
        """Move quantity and basis; return (realized PnL, whether a new position was opened)."""
        qty = self.quantity
        multiplier = self.multiplier
        if qty == 0 or (qty > 0) == (signed_qty > 0):
            self.cost_basis += signed_qty * price * multiplier
            self.quantity = qty + signed_qty
            return ZERO, qty == 0
        closing = min(abs(qty), abs(signed_qty))
        closing_signed = closing if qty > 0 else -closing
        # Cost of the closed part, computed once and used for both realized PnL and the basis.
        # Quantised to 1e-12 so every later sum stays exact within Decimal's 28 digits.
        removed = (
            self.cost_basis
            if closing == abs(qty)
            else (self.cost_basis * closing / abs(qty)).quantize(_BASIS_QUANTUM)
        )
        realized = closing_signed * price * multiplier - removed
        self.cost_basis -= removed
        self.realized_pnl += realized
        remainder = signed_qty + closing_signed  # what is left after closing the old side
        self.quantity = qty - closing_signed
        if remainder != 0:  # the fill flipped the position: open the rest at the fill price
            self.cost_basis = remainder * price * multiplier
            self.quantity = remainder
            return realized, True
        return realized, False

    def __repr__(self) -> str:
        return (
            f"Position({self.instrument_id}, qty={self.quantity}, avg={self.avg_open_price}, "
            f"realized={self.realized_pnl})"
        )
