"""Cash, positions and PnL of one account, built only from fills — the book-keeping behind
`InstantEngine`'s positions, account values and PnL.

Average-cost accounting: adding to a position moves its average price, reducing it realises PnL
at the average price, crossing through zero re-opens at the fill price. Margin is a flat model
(50% initial, 25% maintenance of gross position value), stated plainly rather than pretending to
be IB's. This module is pure arithmetic: no I/O, no clock, never `ib_async`.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    ContractSpec,
    PnLSingleView,
    PnLView,
    PositionView,
)
from ordergate.domain.values import ZERO, Side

__all__ = ["INITIAL_MARGIN_RATE", "MAINTENANCE_MARGIN_RATE", "Ledger", "Mark"]

INITIAL_MARGIN_RATE = Decimal("0.5")
MAINTENANCE_MARGIN_RATE = Decimal("0.25")

Mark = Callable[[ContractSpec], Decimal | None]
"""Current price of a contract, or None when unknown (positions then mark at average price)."""


@attrs.define
class _Holding:
    contract: ContractSpec
    quantity: Decimal = ZERO
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO


class Ledger:
    """One account's cash and positions. Call `apply_fill` for every execution, once."""

    def __init__(self, account: str, starting_cash: Decimal, currency: str = "USD") -> None:
        self.account = account
        self.currency = currency
        self._starting_cash = starting_cash
        self._cash = starting_cash
        self._commissions = ZERO
        self._holdings: dict[int, _Holding] = {}

    @property
    def cash(self) -> Decimal:
        """Cash balance after every fill and commission booked so far."""
        return self._cash

    def apply_fill(
        self,
        contract: ContractSpec,
        side: Side,
        quantity: Decimal,
        price: Decimal,
        commission: Decimal,
    ) -> Decimal | None:
        """Book a fill; return the PnL it realised (None when it only opened or added)."""
        holding = self._holdings.setdefault(contract.con_id, _Holding(contract))
        mult = contract.multiplier
        signed = quantity * side.sign
        self._cash -= signed * price * mult + commission
        self._commissions += commission
        old = holding.quantity
        realized: Decimal | None = None
        if old == 0 or (old > 0) == (signed > 0):
            total = old + signed
            holding.avg_price = (old * holding.avg_price + signed * price) / total
            holding.quantity = total
        else:
            closing = min(abs(signed), abs(old))
            direction = Decimal(1) if old > 0 else Decimal(-1)
            realized = closing * (price - holding.avg_price) * direction * mult
            holding.realized += realized
            holding.quantity = old + signed
            if holding.quantity == 0:
                holding.avg_price = ZERO
            elif (holding.quantity > 0) != (old > 0):
                holding.avg_price = price
        return realized

    def positions(self, mark: Mark) -> list[PositionView]:
        """Every non-zero position, marked."""
        return [
            self._view(h, mark) for h in self._holdings.values() if h.quantity != 0
        ]

    def position(self, con_id: int, mark: Mark) -> PositionView | None:
        """The position in `con_id` (zero quantity if it was closed), None if never traded."""
        holding = self._holdings.get(con_id)
        return None if holding is None else self._view(holding, mark)

    def snapshot(self, mark: Mark) -> AccountSnapshot:
        """Account values at the current marks."""
        positions = self.positions(mark)
        value = sum((p.market_value for p in positions), ZERO)
        gross = sum((abs(p.market_value) for p in positions), ZERO)
        net_liq = self._cash + value
        init = gross * INITIAL_MARGIN_RATE
        maint = gross * MAINTENANCE_MARGIN_RATE
        available = net_liq - init
        return AccountSnapshot(
            account=self.account,
            currency=self.currency,
            net_liquidation=net_liq,
            total_cash=self._cash,
            gross_position_value=gross,
            buying_power=available / INITIAL_MARGIN_RATE,
            available_funds=available,
            excess_liquidity=net_liq - maint,
            init_margin=init,
            maint_margin=maint,
            realized_pnl=self._realized(),
            unrealized_pnl=sum((p.unrealized_pnl for p in positions), ZERO),
        )

    def pnl(self, mark: Mark) -> PnLView:
        """Account PnL; the ledger's session is its whole life, so daily = change in equity."""
        snap = self.snapshot(mark)
        return PnLView(
            daily=snap.net_liquidation - self._starting_cash,
            unrealized=snap.unrealized_pnl,
            realized=snap.realized_pnl,
        )

    def pnl_single(self, contract: ContractSpec, mark: Mark) -> PnLSingleView:
        """PnL of one position (all zeros for a contract never traded)."""
        position = self.position(contract.con_id, mark)
        if position is None:
            return PnLSingleView(
                position=ZERO, daily=ZERO, unrealized=ZERO, realized=ZERO, value=ZERO
            )
        return PnLSingleView(
            position=position.quantity,
            daily=position.unrealized_pnl + position.realized_pnl,
            unrealized=position.unrealized_pnl,
            realized=position.realized_pnl,
            value=position.market_value,
        )

    def _realized(self) -> Decimal:
        return sum((h.realized for h in self._holdings.values()), ZERO)

    def _view(self, holding: _Holding, mark: Mark) -> PositionView:
        return PositionView(
            account=self.account,
            contract=holding.contract,
            quantity=holding.quantity,
            avg_price=holding.avg_price,
            market_price=mark(holding.contract),
            realized_pnl=holding.realized,
        )
