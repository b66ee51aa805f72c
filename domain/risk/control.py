"""The operator's standing request for the trading state, as persisted between processes.

`ordergate halt`, `resume` and `kill` (and the `OrderGate` facade's `halt`, `reduce`, `resume`
and `kill`) write a `TradingRequest`; every entry point that trades reads it when it starts and
while it runs, so a halt or a kill holds across commands and restarts. The kill switch is sticky:
once a request engages it, later requests keep it engaged (a halt stays a kill, a reduce is
refused) until an explicit resume releases it. Pure: time is passed in; storage is an adapter's.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ordergate.domain.risk.breakers import KillSwitchEngaged
from ordergate.domain.risk.decision import TradingState
from ordergate.domain.values import check_utc

__all__ = ["TradingRequest"]


def _utc_or_none(
    inst: object, attribute: attrs.Attribute[datetime | None], value: datetime | None
) -> None:
    if value is not None:
        check_utc(f"TradingRequest.{attribute.name}", value)


@attrs.frozen
class TradingRequest:
    """The state an operator asked for, whether the kill switch is engaged, why and when.

    With `kill_switch` the state is always HALTED.
    """

    state: TradingState
    reason: str = ""
    requested_at: datetime | None = attrs.field(default=None, validator=_utc_or_none)
    kill_switch: bool = False

    def __attrs_post_init__(self) -> None:
        if self.kill_switch and self.state is not TradingState.HALTED:
            raise KillSwitchEngaged(self.state)

    @classmethod
    def after(
        cls,
        previous: TradingRequest | None,
        state: TradingState,
        reason: str,
        now: datetime,
        *,
        kill: bool = False,
    ) -> TradingRequest:
        """The request that follows `previous` when an operator asks for `state` (`kill`: the
        kill switch) at `now`.

        An engaged kill switch stays engaged for a HALTED request, is released only by ACTIVE
        (an explicit resume), and refuses REDUCING with `KillSwitchEngaged`.
        """
        check_utc("TradingRequest.after.now", now)
        if kill:
            return cls(TradingState.HALTED, reason, now, kill_switch=True)
        killed = previous is not None and previous.kill_switch
        if killed and state is TradingState.REDUCING:
            raise KillSwitchEngaged(state)
        keep = killed and state is TradingState.HALTED
        return cls(state, reason, now, kill_switch=keep)
