"""Run a trading session: the orchestrator cycle of seed 001 §6.1 with pluggable strategies.

Each cycle: the pacer moves the market to the next decision point; every strategy looks at a
fresh `MarketSnapshot` of each of its instruments and may emit a signal, which goes through the
gate like any other; then the Strategy C monitor reviews positions and closes what its rules
flag. Stale or incomplete data never produces a new order (the gate would deny it anyway). Before
each cycle the operator's trading control is read (`OrderGate.sync_trading_control`): a halt,
kill or resume requested from another process applies from that cycle on; a control that cannot
be read keeps the current state and is audited once per distinct error (`session.control_error`).
Ships Strategy A (momentum breakout) as the example strategy.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import attrs

from ordergate.application.facade import OrderGate
from ordergate.application.results import OrderResult, OrderResultStatus
from ordergate.domain.indicators.snapshot import MarketSnapshot
from ordergate.domain.instruments import (
    Instrument,
    OptionContract,
    Stock,
    quantize_price,
)
from ordergate.domain.orders.enums import OrderStatus, TimeInForce
from ordergate.domain.signals import Signal
from ordergate.domain.values import Side, SignalId

__all__ = [
    "MomentumStrategyA",
    "OptionPicker",
    "SessionPacer",
    "SessionRunner",
    "SessionSummary",
    "Strategy",
]


class SessionPacer(Protocol):
    """Moves the market to the next decision point (a replayed day, or a sleep on a live clock)."""

    total_cycles: int | None

    def upcoming_day(self) -> date | None:
        """The exchange-local trading date the next cycle belongs to (None when over)."""

    async def next_cycle(self) -> bool:
        """Advance; False when the session is over. On return, the events the move caused have
        reached the broker's event stream (a remote market waits for them)."""


class Strategy(Protocol):
    """Looks at snapshots and proposes signals; never sends anything itself (docs/strategies.md).

    `name` and `instruments` are only read, so a plain attribute of any sequence type (a list,
    a tuple) satisfies them."""

    @property
    def name(self) -> str:
        """The strategy's name: on every signal it proposes, and in the audit log."""

    @property
    def instruments(self) -> Sequence[Instrument]:
        """What it trades: the session asks it about each, every cycle."""

    def decide(self, snapshot: MarketSnapshot, position: Decimal, now: datetime) -> Signal | None:
        """A signal for `snapshot.quote.instrument_id`, or None."""


OptionPicker = Callable[[Stock, Decimal, datetime], OptionContract | None]


@attrs.define
class MomentumStrategyA:
    """Seed 001's Strategy A: EMA(8) above EMA(21), RSI(14) within [50, 65], last above VWAP.

    Enters long with a bracket (stop-loss `stop_pct` below, take-profit `target_pct` above, both
    good till cancelled), sized by the gate's fixed-fraction sizer. With `option_picker`, it
    buys calls on the underlying instead (Strategy C then closes them at 3 DTE or on a 40%
    loss).
    """

    instruments: Sequence[Instrument]
    name: str = "A"
    rsi_low: float = 50.0
    rsi_high: float = 65.0
    stop_pct: Decimal = Decimal("0.05")
    target_pct: Decimal = Decimal("0.08")
    option_picker: OptionPicker | None = None
    option_quantity: Decimal = Decimal(1)

    def decide(self, snapshot: MarketSnapshot, position: Decimal, now: datetime) -> Signal | None:
        """Enter when flat and every condition holds; otherwise None."""
        ind = snapshot.indicators
        last = snapshot.quote.last
        if position != 0 or snapshot.quality.is_stale or last is None:
            return None
        fast, slow, rsi, vwap = ind.ema_fast, ind.ema_slow, ind.rsi, ind.vwap
        if fast is None or slow is None or rsi is None or vwap is None:
            return None
        if not (fast > slow and self.rsi_low <= rsi <= self.rsi_high and float(last) > vwap):
            return None
        instrument = next(i for i in self.instruments if i.id == snapshot.quote.instrument_id)
        stamp = f"{now:%Y%m%dT%H%M}"
        if self.option_picker is not None and isinstance(instrument, Stock):
            option = self.option_picker(instrument, last, now)
            if option is None:
                return None
            return Signal(
                SignalId(f"{self.name}-{option.symbol.replace(' ', '')}-{stamp}"),
                option,
                Side.BUY,
                now,
                strategy=self.name,
                quantity=self.option_quantity,
            )
        tick = instrument.tick_size
        return Signal(
            SignalId(f"{self.name}-{instrument.id}-{stamp}"),
            instrument,
            Side.BUY,
            now,
            strategy=self.name,
            stop_loss=quantize_price(last * (1 - self.stop_pct), tick),
            take_profit=quantize_price(last * (1 + self.target_pct), tick),
            # The stop-loss and take-profit protect the position until one of them fills,
            # not just for the entry's session.
            time_in_force=TimeInForce.GTC,
        )


_SENT = frozenset(
    {OrderResultStatus.SUBMITTED, OrderResultStatus.PARTIAL, OrderResultStatus.FILLED}
)


@attrs.define
class SessionSummary:
    """What a session did: orders, fills, denials with reasons, closures and PnL."""

    cycles: int = 0
    signals: int = 0
    results: list[OrderResult] = attrs.field(factory=list)
    closures: list[OrderResult] = attrs.field(factory=list)
    skipped_stale: int = 0
    realized_pnl: Decimal = Decimal(0)
    unrealized_pnl: Decimal = Decimal(0)
    commissions: Decimal = Decimal(0)
    starting_equity: Decimal = Decimal(0)
    equity: Decimal = Decimal(0)
    fills: int = 0
    orders_filled: int = 0
    open_positions: int = 0
    trading_state: str = ""
    killed: bool = False
    control_changes: int = 0

    @property
    def denials(self) -> list[OrderResult]:
        """Orders the risk gate denied (nothing was sent for them)."""
        return [r for r in self.results + self.closures if r.status is OrderResultStatus.DENIED]

    @property
    def rejections(self) -> list[OrderResult]:
        """Orders the gate approved and sent, and the broker refused."""
        return [r for r in self.results + self.closures if r.status is OrderResultStatus.REJECTED]

    def denial_reasons(self) -> Counter[str]:
        """How often each risk code denied an order: a denied order counts once for every rule it
        broke, so the counts can add up to more than `denials`."""
        counts: Counter[str] = Counter()
        for result in self.denials:
            if result.decision is not None:
                counts.update(code.value for code in result.decision.codes)
        return counts

    def closure_reasons(self) -> Counter[str]:
        """How many closures each Strategy C / manual reason caused."""
        return Counter(r.closure_reason.value for r in self.closures if r.closure_reason)

    def status_counts(self) -> Counter[str]:
        """How many results ended in each status. SUBMITTED versus FILLED depends on whether the
        fill had arrived when the result was built (a race with the broker); `orders_sent` does
        not."""
        return Counter(r.status.value for r in self.results)

    @property
    def orders_sent(self) -> int:
        """Orders the broker took (working, partly or wholly filled when the result was built)."""
        return sum(1 for r in self.results if r.status in _SENT)


class SessionRunner:
    """Drives `gate` with `strategies` until `pacer` says the session is over.

    `barrier`, for a broker in another process, returns once everything the broker sent so far
    has arrived; the runner awaits it before each settle so decisions never race the wire.
    """

    def __init__(
        self,
        gate: OrderGate,
        pacer: SessionPacer,
        strategies: Sequence[Strategy],
        *,
        on_cycle: Callable[[int, SessionSummary], None] | None = None,
        barrier: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._gate = gate
        self._pacer = pacer
        self._strategies = strategies
        self._on_cycle = on_cycle
        self._barrier = barrier
        self._control_error = ""

    async def _settle(self, *, sent: bool = True) -> None:
        """Wait for the broker's events so far: first the `barrier` (a round trip to a remote
        broker, so its events have arrived) when orders were `sent` since the last one, then the
        gate's processing of them."""
        if sent and self._barrier is not None:
            await self._barrier()
        await self._gate.settle()

    async def run(self) -> SessionSummary:
        """Run every cycle, then summarise."""
        gate = self._gate
        summary = SessionSummary(starting_equity=gate.portfolio.equity())
        day: date | None = None
        while True:
            upcoming = self._pacer.upcoming_day()
            if upcoming is not None and upcoming != day:
                gate.begin_day()  # before the day trades: the previous close is the reference
                day = upcoming
            if not await self._pacer.next_cycle():
                break
            await self._sync_control(summary)
            await self._settle(sent=False)  # a pacer returns once the day's events have arrived
            summary.cycles += 1
            sent_before = len(summary.results)
            for strategy in self._strategies:
                for instrument in strategy.instruments:
                    await self._consider(strategy, instrument, summary)
            await self._settle(sent=len(summary.results) > sent_before)
            report = await gate.monitor()
            summary.closures.extend(report.closures)
            await self._settle(sent=bool(report.closures))
            if self._on_cycle is not None:
                self._on_cycle(summary.cycles, summary)
        self._finish(summary)
        return summary

    async def _sync_control(self, summary: SessionSummary) -> None:
        try:
            changed = await self._gate.sync_trading_control()
        except Exception as exc:  # keep the current state; say why once per distinct error
            message = f"{type(exc).__name__}: {exc}"
            if message != self._control_error:
                self._control_error = message
                await self._gate.record("session.control_error", {"error": message})
            return
        self._control_error = ""
        summary.control_changes += int(changed)

    async def _consider(
        self, strategy: Strategy, instrument: Instrument, summary: SessionSummary
    ) -> None:
        gate = self._gate
        snapshot = await gate.market_snapshot(instrument)
        if snapshot.quality.is_stale:
            summary.skipped_stale += 1
            return
        position = gate.portfolio.position_qty(instrument.id)
        signal = strategy.decide(snapshot, position, gate.now)
        if signal is None:
            return
        summary.signals += 1
        summary.results.extend(await gate.submit_signal(signal))

    def _finish(self, summary: SessionSummary) -> None:
        portfolio = self._gate.portfolio
        summary.realized_pnl = portfolio.realized_pnl()
        summary.unrealized_pnl = portfolio.unrealized_pnl()
        summary.commissions = portfolio.total_commissions
        summary.equity = portfolio.equity()
        summary.fills = sum(len(o.fills) for o in portfolio.orders.values())
        summary.orders_filled = sum(
            1 for o in portfolio.orders.values() if o.status is OrderStatus.FILLED
        )
        summary.open_positions = sum(1 for _ in portfolio.open_positions())
        summary.trading_state = self._gate.trading_state.value
        summary.killed = self._gate.kill_switch_engaged
