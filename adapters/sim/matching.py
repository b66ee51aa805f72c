"""Price-path rules: when a working order triggers or executes as the price moves.

The engine walks each bar as a path — a *jump* to the open, then three straight legs
(open → low → high → close for a bar that closes at or above its open, open → high → low → close
otherwise) — and a tick as a jump. These functions answer, for one order:

- `at_jump`: the price jumped to (bid, ask, last). Stops trigger when `last` is at or through the
  stop; an order that is (or becomes) marketable executes at the jump's price — the *gap-through*
  rule: a buy stop above a gapped-up open fills at the open, a limit buy below it too.
- `next_event`: on a straight leg a → b, the first price at which a *resting* order triggers
  or executes, or None. A resting limit executes only when the leg trades *through* its price
  (touching it is not enough); a stop triggers when the leg reaches it. Orders that become
  active mid-path are first matched with `at_jump` at the current price (arrival).
- `execute_at`: apply the event found by `next_event` at price p; returns the execution price.

Trailing stops ratchet with every price seen (`observe`) and never loosen. These functions mutate
only the order they are given and do no I/O.
"""

from __future__ import annotations

from ordergate.adapters.sim.orders import TRAIL, SimOrder

__all__ = ["at_jump", "execute_at", "next_event", "observe"]


def observe(order: SimOrder, price: int) -> None:
    """Ratchet an untriggered trailing stop with a price the market traded at."""
    if order.kind != TRAIL or order.triggered:
        return
    candidate = order.trail_stop_from(price)
    stop = order.stop
    if stop is None or (candidate < stop if order.buy else candidate > stop):
        order.stop = candidate


def _limit_marketable(order: SimOrder, price: int) -> bool:
    limit = order.limit
    return limit is None or (price <= limit if order.buy else price >= limit)


def at_jump(order: SimOrder, bid: int, ask: int, last: int) -> int | None:
    """The price jumped: trigger and/or execute. Returns the execution price or None."""
    if not order.triggered:
        stop = order.stop
        if stop is None:  # a trailing stop meeting its first price
            observe(order, last)
            return None
        if (last >= stop) if order.buy else (last <= stop):
            order.trigger()
        else:
            observe(order, last)
            return None
    price = ask if order.buy else bid
    return price if _limit_marketable(order, price) else None


def next_event(order: SimOrder, a: int, b: int) -> int | None:
    """The first price on the leg a → b (a != b) where `order` triggers or executes."""
    rising = b > a
    if not order.triggered:
        stop = order.stop
        if stop is None or order.buy != rising:
            return None  # buy stops trigger on the way up, sell stops on the way down
        if rising:
            return max(stop, a) if stop <= b else None
        return min(stop, a) if stop >= b else None
    limit = order.limit
    if limit is None:
        return None  # a market order executes on arrival or at the next jump, not mid-leg
    if order.buy:
        return limit if not rising and b < limit <= a else None
    return limit if rising and a <= limit < b else None


def execute_at(order: SimOrder, price: int) -> int | None:
    """Apply the event `next_event` found at `price`; returns the execution price or None when
    the order only triggered and now rests as a limit."""
    if not order.triggered:
        order.trigger()
    return price if _limit_marketable(order, price) else None
