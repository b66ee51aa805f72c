"""`Replay`: drives a simulated market through bar series (and trade ticks), in time order.

Each bar goes to the `SimBroker` (which matches working orders and moves the clock to the bar's
end); after an underlying's bar, every watched option on it is re-priced with Black–Scholes and
ticked on the broker. Strategies iterate the replay and act between bars through the `Broker`
port. Nothing here sleeps or reads the wall clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Sequence

from ordergate.adapters.sim.bars import SimBar, from_units
from ordergate.adapters.sim.broker import SimBroker
from ordergate.adapters.sim.options import OptionMarket
from ordergate.adapters.sim.ticks import SimTick
from ordergate.domain.errors import BrokerRejected
from ordergate.ports.broker import BrokerEvent

__all__ = ["Replay", "merge_series"]


def merge_series(*series: Sequence[SimBar]) -> list[SimBar]:
    """Several instruments' bars as one series ordered by start time, then instrument id."""
    return list(heapq.merge(*series, key=lambda b: (b.ts, str(b.instrument_id))))


class Replay:
    """Feeds bars to `broker`, keeping the watched options of `options` priced."""

    def __init__(self, broker: SimBroker, *, options: OptionMarket | None = None) -> None:
        self.broker = broker
        self.options = options

    def step(self, bar: SimBar) -> list[BrokerEvent]:
        """Replay one bar; returns the events it caused (also published on `events()`)."""
        events = self.broker.feed_sim_bar(bar)
        options = self.options
        if options is not None and options.watched(str(bar.instrument_id)):
            now = self.broker.clock.now()
            spot = from_units(bar.close)
            events = list(events)
            for contract, price in options.repriced(bar.instrument_id, spot, now):
                events.extend(self.broker.feed_tick(contract, price))
        return events

    def step_tick(self, tick: SimTick) -> list[BrokerEvent]:
        """Replay one trade tick at its time; `BrokerRejected` if the broker does not know the
        instrument."""
        instrument = self.broker.engine.instrument(tick.instrument_id)
        if instrument is None:
            raise BrokerRejected(f"No security definition has been found for {tick.instrument_id}",
                                 200)
        return self.broker.feed_tick(
            instrument, tick.price, bid=tick.bid, ask=tick.ask, size=tick.size, ts=tick.ts
        )

    def run(self, bars: Iterable[SimBar]) -> Iterator[tuple[SimBar, list[BrokerEvent]]]:
        """Replay `bars` one by one, yielding each with the events it caused."""
        for bar in bars:
            yield bar, self.step(bar)
