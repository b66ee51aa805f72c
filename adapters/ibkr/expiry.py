"""Options settled at expiry, from what IB reports, as the domain's settlement events.

IB reports an exercise or an assignment as executions outside any order (no orderRef, order id
and perm id 0): the option leg at price 0 and the stock delivered at the strike, followed by the
position updates (the option gone, the stock changed). ib_async keeps such executions in
`ib.fills()` but raises no `execDetailsEvent` for them (there is no trade to attach them to), so
the adapter learns of a settlement from the option's position update:

- an option position that goes from non-zero to zero with an unseen price-0 execution on the
  contract was **exercised** (it was long) or **assigned** (short): `OptionExercised` /
  `OptionAssigned`, the shares derived from the contract (quantity × multiplier, bought for a
  long call or a short put);
- one that goes to zero with no execution on the contract at all since it was last reported
  non-zero **lapsed**: `OptionExpired` (a position closed by a trade has that trade's execution);
- otherwise a trade closed it, and nothing is published here.

Each settlement is published once per `settlement_id` (account, OCC symbol, expiry). IB does not
say the settlement price, so `underlying_price` is None. Never awaits; runs inside ib_async's
position callback.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ib_async.objects import Fill

from ordergate.domain.expiry import settlement_id
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.settlement import (
    OptionAssigned,
    OptionExercised,
    OptionExpired,
    OptionSettlement,
)

__all__ = ["SettlementWatch"]


class SettlementWatch:
    """Watches option positions of one account and publishes their settlements at expiry."""

    def __init__(
        self,
        account: Callable[[], str],
        fills: Callable[[], Sequence[Fill]],
        publish: Callable[[Any], None],
    ) -> None:
        self._account = account
        self._fills = fills
        self._publish = publish
        # conId -> (last non-zero quantity, execIds on the contract when it was reported)
        self._held: dict[int, tuple[Decimal, frozenset[str]]] = {}
        self._published: set[str] = set()

    def on_position(self, con_id: int, instrument: Instrument, quantity: Decimal) -> None:
        """A position update of our account (ib_async's positionEvent, already parsed)."""
        if not isinstance(instrument, OptionContract):
            return
        seen = self._executions_on(con_id)
        if quantity != 0:
            self._held[con_id] = (quantity, frozenset(seen))
            return
        held = self._held.pop(con_id, None)
        if held is None:
            return
        previous, known = held
        new = {exec_id: fill for exec_id, fill in seen.items() if exec_id not in known}
        event = self._settlement(instrument, previous, new)
        if event is not None and event.settlement_id not in self._published:
            self._published.add(event.settlement_id)
            self._publish(event)

    def _executions_on(self, con_id: int) -> dict[str, Fill]:
        return {f.execution.execId: f for f in self._fills() if f.contract.conId == con_id}

    def _settlement(
        self, option: OptionContract, previous: Decimal, new: dict[str, Fill]
    ) -> OptionSettlement | None:
        sid = settlement_id(self._account(), option)
        legs = [f for f in new.values() if not f.execution.orderRef and f.execution.price == 0]
        if legs:
            when = _time(legs[0])
            direction = Decimal(1) if option.right is OptionRight.CALL else Decimal(-1)
            shares = previous * option.multiplier * direction
            kind = OptionExercised if previous > 0 else OptionAssigned
            return kind(sid, option, previous, Stock(option.underlying), shares, None, when, when)
        if new:
            return None  # a trade closed the position
        now = datetime.now(UTC)
        return OptionExpired(sid, option, previous, None, now, now)


def _time(fill: Fill) -> datetime:
    """The execution's server time as aware UTC (ib_async parses it aware, in UTC)."""
    stamp = fill.execution.time
    return stamp.astimezone(UTC) if stamp.tzinfo else stamp.replace(tzinfo=UTC)
