"""Market data of a `SimGatewayEngine`: quotes and historical bars from the session it replays.

A snapshot is stamped with the simulated time of the contract's last trade (a replayed bar's end,
or an option's last re-pricing), carries bid and ask only where the matching engine holds a live
quote (ticked instruments such as the listed options; a stock between bars has none), and its
close is the previous session's close. Bars are the session's own daily bars, never from the
simulated future. Reads the simulation only; never `ib_async`.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from ordergate.adapters.gateway_sim.engine import EngineRefusal, RefusalReason
from ordergate.adapters.gateway_sim.engine_types import (
    BarRequest,
    BarSource,
    ContractSpec,
    MarketSnapshot,
)
from ordergate.adapters.sim.bars import SimBar, from_units
from ordergate.adapters.sim.session import SimSession
from ordergate.domain.instruments import OptionContract
from ordergate.domain.market import Bar
from ordergate.domain.values import ZERO

__all__ = ["DAY", "session_bars", "snapshot"]

DAY = timedelta(days=1)
"""Bar sizes of a day or more are answered with the session's daily bars."""
_QUOTE_SIZE = Decimal(1)
"""The simulator models no book depth: a live quote is shown one unit deep on each side."""


def snapshot(session: SimSession, spec: ContractSpec) -> MarketSnapshot | None:
    """The quote of `spec` now; None before the contract ever traded in the simulation."""
    engine = session.engine
    iid = spec.instrument.id
    traded = engine.last_price(iid)
    if traded is None:
        return None
    last, ts = traded
    quote = engine.live_quote(iid)
    bid = ask = None
    if quote is not None:
        bid = quote[0] if quote[0] > 0 else None
        ask = quote[1] if quote[1] > 0 else None
    volume = close = None
    series = session.series.get(spec.symbol) if not _is_option(spec) else None
    if series:
        ended = _ended(series, ts)
        if ended >= 0:
            volume = Decimal(series[ended].volume)
            close = _previous_close(series, ended)
    return MarketSnapshot(
        ts=ts,
        bid=bid,
        ask=ask,
        last=last,
        bid_size=_QUOTE_SIZE if bid is not None else ZERO,
        ask_size=_QUOTE_SIZE if ask is not None else ZERO,
        volume=volume,
        close=close,
    )


def session_bars(session: SimSession, spec: ContractSpec, request: BarRequest) -> list[Bar]:
    """The session's daily bars of `spec` starting in `[end - duration, end)` that have ended by
    the simulated now (dated by their session's open, one day long, as IB reports daily bars);
    `EngineRefusal` (NO_MARKET_DATA) when there are none to give."""
    if request.bar_size < DAY:
        raise EngineRefusal(
            RefusalReason.NO_MARKET_DATA,
            f"the replay holds daily bars only; ask for '1 day' bars, not {request.bar_size}",
        )
    if request.source is not BarSource.TRADES:
        raise EngineRefusal(
            RefusalReason.NO_MARKET_DATA,
            f"the replay holds trade bars only (whatToShow TRADES), not {request.source.value}",
        )
    series = None if _is_option(spec) else session.series.get(spec.symbol)
    if not series:
        raise EngineRefusal(
            RefusalReason.NO_MARKET_DATA, f"the replay has no bars of {spec.local_symbol}"
        )
    now = session.clock.now()
    start = request.end - request.duration
    chosen = [
        b.to_bar() for b in series if start <= b.ts < request.end and b.end <= now
    ]
    if not chosen:
        raise EngineRefusal(
            RefusalReason.NO_MARKET_DATA,
            f"no bar of {spec.local_symbol} starts in [{start.isoformat()}, "
            f"{request.end.isoformat()}) and has ended by {now.isoformat()}",
        )
    return [_daily(bar) for bar in chosen]


def _daily(bar: Bar) -> Bar:
    return Bar(bar.instrument_id, bar.ts, bar.open, bar.high, bar.low, bar.close, bar.volume, DAY)


def _is_option(spec: ContractSpec) -> bool:
    return isinstance(spec.instrument, OptionContract)


def _ended(series: Sequence[SimBar], ts: datetime) -> int:
    """Index of the last bar that ended at or before `ts`, or -1."""
    return bisect.bisect_right(series, ts, key=lambda b: b.end) - 1


def _previous_close(series: Sequence[SimBar], ended: int) -> Decimal | None:
    """The close of the session before the one that ended last (a stock trades only at the end
    of its replayed bars, so that session is the current one)."""
    return from_units(series[ended - 1].close) if ended > 0 else None
