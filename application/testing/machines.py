"""Risk-invariant state machines, built for a user's own limits, and a runner that reports them.

`risk_machine(limits, breakers)` returns a Hypothesis `RuleBasedStateMachine` class whose rules
submit random order requests through the risk gate (approved ones become working orders), fill
them fully or partly (duplicate executions, commissions before and after their fills), cancel
them, move prices, advance the clock, change the trading state, trip breakers and request
Strategy C closures and flattens. A shadow ledger checks SPEC §9's domain invariants after every
step (`INVARIANTS`). Order sizes and prices are drawn relative to the limits, so every limit of
the configuration is within reach. The invariants are stated against the configured limit
*values*, never the enabled flags: a protective rule switched off while its limit still says
otherwise is exactly what a run finds. `run_risk_verification` runs a machine programmatically
and returns the minimal counterexample Hypothesis shrank (what `ordergate verify-risk` prints).

Pure and synchronous: nothing here does I/O. Hypothesis is the optional `ordergate[testing]` extra.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any, cast

import attrs
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    rule,
    run_state_machine_as_test,
)

from ordergate.application.testing._risk_events import RiskLedgerMachine
from ordergate.application.testing._risk_ledger import T0, InvariantBroken, RiskLedger, on_tick
from ordergate.domain.errors import OrdergateError
from ordergate.domain.instruments import Instrument, OptionContract, OptionRight, Stock
from ordergate.domain.risk import BreakerConfig, BreakerKind, RiskLimits
from ordergate.domain.strategy_c import StrategyCConfig
from ordergate.domain.values import Side

__all__ = [
    "INVARIANTS",
    "InvariantBroken",
    "MachineSetup",
    "Progress",
    "RiskLedgerMachine",
    "VerificationReport",
    "machine_setup",
    "risk_machine",
    "run_risk_verification",
]

_DEFAULT_INSTRUMENTS: tuple[Instrument, ...] = (
    Stock("AAPL"),
    Stock("MSFT"),
    OptionContract("AAPL", T0.date() + timedelta(days=3), Decimal(150), OptionRight.CALL),
)
_PRICE_FACTORS = (Decimal(1), Decimal("0.5"))  # alternately: notional binds, quantity binds
_MIN_CASH = Decimal(1_000)
_CENT = Decimal("0.01")

INVARIANTS: dict[str, str] = {
    "position_within_limit": "no worst-case position (the position if every working order on "
    "one side filled) above its max_position",
    "open_orders_within_limit": "at most max_open_orders working orders that open risk",
    "order_within_size_limits": "no approved order above max_order_quantity or max_order_notional",
    "gross_notional_within_cap": "an approval that raises the worst-case gross notional keeps "
    "it within max_gross_notional",
    "leverage_within_cap": "an approval that raises the worst-case gross notional keeps it "
    "within max_leverage × equity",
    "no_new_risk_when_restricted": "no risk-increasing approval while HALTED, REDUCING or a "
    "circuit breaker is open",
    "no_new_risk_on_stale_quote": "no risk-increasing approval on a quote older than max_quote_age",
    "closures_never_blocked": "Strategy C closures and flattens within the position are "
    "always approved",
    "closures_never_over_close": "no closure, flatten or reducing approval closes more than "
    "is open",
    "execution_applied_once": "each execution id is applied once",
    "position_equals_signed_fills": "each position quantity equals the sum of its signed fills",
    "filled_plus_leaves_is_quantity": "filled + leaves == quantity for every order",
    "cash_reconciles_with_pnl": "cash and commissions match the ledger, and cash + market value "
    "== starting cash + realized + unrealized PnL − commissions",
}
"""Every invariant the machines check: name (as `InvariantBroken.invariant`) → what it promises.

They are stated against the configured limit values, whatever rules the limits switch off."""


@attrs.frozen
class MachineSetup:
    """The world a machine starts in: limits, breakers, instruments at their start prices, and
    the cash amounts an account may open with (each run draws one; the first is the default)."""

    limits: RiskLimits
    breakers: BreakerConfig
    instruments: tuple[Instrument, ...]
    prices: tuple[Decimal, ...]
    cash_choices: tuple[Decimal, ...]
    strategy_c: StrategyCConfig | None = None

    @property
    def max_quantity(self) -> int:
        """The largest order quantity drawn: twice the largest per-order limit (at least 2)."""
        biggest = max(self.limits.order_quantity_limit(i.id) for i in self.instruments)
        return max(2, int((2 * biggest).to_integral_value(rounding=ROUND_CEILING)))

    def summary(self) -> str:
        """One line: the instruments at their start prices, and the cash choices."""
        pairs = zip(self.instruments, self.prices, strict=True)
        cash = ", ".join(f"{c:f}" for c in self.cash_choices)
        return f"{', '.join(f'{i.id} @ {p:f}' for i, p in pairs)}; cash {cash}"

    def describe(self) -> tuple[str, ...]:
        """Lines saying where every run starts (for a report)."""
        cash = ", ".join(f"{c:f}" for c in self.cash_choices)
        lines = [f"clock starts {T0.isoformat()}; the account opens with one of: {cash}"]
        for instrument, price in zip(self.instruments, self.prices, strict=True):
            lines.append(
                f"{instrument.id} starts at {price:f} (multiplier {instrument.multiplier:f}, "
                f"max_position {self.limits.position_limit(instrument.id):f})"
            )
        if self.limits.disabled:
            off = ", ".join(sorted(rule.value for rule in self.limits.disabled))
            lines.append(f"rules switched off: {off}")
        return tuple(lines)


def machine_setup(
    limits: RiskLimits,
    breakers: BreakerConfig | None = None,
    *,
    instruments: Sequence[Instrument] | None = None,
    start_cash: Decimal | None = None,
    strategy_c: StrategyCConfig | None = None,
) -> MachineSetup:
    """The world a machine starts in, sized so that the limits are reachable.

    Instruments default to two stocks and an option three days from expiry, plus a stock for
    each per-instrument override (so overrides are exercised). Each starts at a price where an
    order of `max_order_quantity` is worth `max_order_notional` (every other instrument at half
    that, where the quantity limit binds first). The account opens with `start_cash` (when
    given) or with half, once or twice `max_gross_notional / max_leverage`, the equity at which
    the gross and leverage caps meet: below it the leverage cap binds first, above it the gross
    cap, so switching either rule off shows.
    """
    chosen = tuple(instruments) if instruments else _with_overrides(limits)
    prices = tuple(
        _start_price(limits, instrument, _PRICE_FACTORS[n % len(_PRICE_FACTORS)])
        for n, instrument in enumerate(chosen)
    )
    gross, leverage = limits.max_gross_notional, limits.max_leverage
    meet = gross / leverage if leverage > 0 else gross
    amounts = ([] if start_cash is None else [start_cash]) + [meet, meet / 2, meet * 2]
    cash = tuple(dict.fromkeys(max(_MIN_CASH, a).quantize(_CENT) for a in amounts))
    return MachineSetup(limits, breakers or BreakerConfig(), chosen, prices, cash, strategy_c)


def _with_overrides(limits: RiskLimits) -> tuple[Instrument, ...]:
    """The default instruments plus a stock for (up to three) overridden stock symbols.

    An option id (it has spaces) or a key that is no stock symbol says too little to build the
    instrument from, so it is skipped."""
    chosen = list(_DEFAULT_INSTRUMENTS)
    for iid in sorted(limits.overrides, key=str)[:3]:
        if " " in str(iid) or any(instrument.id == iid for instrument in chosen):
            continue
        try:
            chosen.append(Stock(str(iid)))
        except OrdergateError:
            continue
    return tuple(chosen)


def _start_price(limits: RiskLimits, instrument: Instrument, factor: Decimal) -> Decimal:
    iid, tick = instrument.id, instrument.tick_size
    quantity, notional = limits.order_quantity_limit(iid), limits.order_notional_limit(iid)
    if quantity > 0 and notional > 0:
        price = notional / (quantity * instrument.multiplier) * factor
    else:
        price = Decimal(50) * factor / instrument.multiplier
    return on_tick(price, tick)


def risk_machine(
    limits: RiskLimits,
    breakers: BreakerConfig | None = None,
    *,
    instruments: Sequence[Instrument] | None = None,
    start_cash: Decimal | None = None,
    strategy_c: StrategyCConfig | None = None,
    name: str = "RiskMachine",
) -> type[RiskLedgerMachine]:
    """A state machine class checking `INVARIANTS` under `limits` (and `breakers`).

    Use it as a test, `TestMyLimits = risk_machine(my_limits).TestCase` (set
    `.TestCase.settings` for more examples or steps), or run it with `run_risk_verification`.
    `instruments`, `start_cash` and `strategy_c` override what `machine_setup` chooses.
    """
    setup = machine_setup(
        limits, breakers, instruments=instruments, start_cash=start_cash, strategy_c=strategy_c
    )
    return _machine_class(setup, name)


def _machine_class(setup: MachineSetup, name: str) -> type[RiskLedgerMachine]:
    """A subclass of `RiskLedgerMachine` with its rules' strategies drawn relative to `setup`."""
    base = RiskLedgerMachine
    instrument = st.sampled_from(setup.instruments)
    side = st.sampled_from(Side)
    top = setup.max_quantity
    large = st.integers(max(1, top // 4), top)  # from half to twice the per-order limit
    pick = st.integers(0, 15)  # which working order or execution a broker event is about
    namespace: dict[str, Any] = {
        "setup": setup,
        "__doc__": f"{base.__doc__}\n\nBuilt by `risk_machine` for {setup.summary()}.",
        "open_account": initialize(
            cash=st.sampled_from(setup.cash_choices),
            book=st.lists(st.tuples(instrument, side, large), max_size=4),
        )(base.open_account),
        "submit": rule(
            instrument=instrument,
            side=side,
            qty=st.integers(1, top),
            offset=st.none() | st.integers(-12, 12),
        )(base.submit),
        "submit_large": rule(
            instrument=instrument,
            side=side,
            qty=large,
            offset=st.none() | st.integers(-12, 12),
        )(base.submit),
        "submit_burst": rule(
            batch=st.lists(
                st.tuples(instrument, side, st.integers(1, max(1, top // 20))),
                min_size=1,
                max_size=3,
            ),
        )(base.submit_burst),
        "fill": rule(
            pick=pick,
            fraction=st.integers(1, 100),
            commission=st.none() | st.integers(0, 300),
        )(base.fill),
        "duplicate_fill": rule(pick=pick, with_fee=st.booleans())(base.duplicate_fill),
        "late_commission": rule(pick=pick, cents=st.integers(0, 500))(base.late_commission),
        "early_commission": rule(cents=st.integers(0, 500))(base.early_commission),
        "cancel": rule(pick=pick)(base.cancel),
        "move_price": rule(instrument=instrument, percent=st.integers(-45, 45))(base.move_price),
        "advance_clock": rule(
            seconds=st.sampled_from([1, 5, 30, 61, 400, 3600, 86_400]), requote=st.booleans()
        )(base.advance_clock),
        "trading_state": rule(
            action=st.sampled_from(["ACTIVE", "ACTIVE", "REDUCING", "HALTED", "kill", "release"])
        )(base.trading_state),
        "breakers": rule(
            action=st.sampled_from(["observe", "probe", "probe", "trip"]),
            kind=st.sampled_from(BreakerKind),
        )(base.breakers),
        "strategy_c_cycle": rule(breaker=st.sampled_from(["", "daily_loss", "drawdown"]))(
            base.strategy_c_cycle
        ),
        "flatten": rule(instrument=instrument, side=side, qty=st.integers(1, top))(base.flatten),
    }
    return cast(type[RiskLedgerMachine], type(name, (base,), namespace))


@attrs.frozen
class VerificationReport:
    """What a verification run found.

    `ok` when every invariant held over `examples` runs. Otherwise `invariant` names the one that
    broke (a key of `INVARIANTS`, or `unexpected_error`), `message` says what was seen, `steps`
    is the minimal counterexample (each action and what the gate said), `reproduction` the same
    program as Hypothesis prints it, and `setup` describes the world the machine ran in.
    """

    ok: bool
    examples: int
    setup: tuple[str, ...]
    seed: int = 0
    invariant: str | None = None
    message: str = ""
    steps: tuple[str, ...] = ()
    reproduction: tuple[str, ...] = ()

    @property
    def description(self) -> str:
        """What the broken invariant promises (empty when none broke)."""
        if self.invariant is None:
            return ""
        return INVARIANTS.get(self.invariant, "the library raises no unexpected error")


Progress = Callable[[int, bool], None]
"""Called after every run with (runs so far, whether a failure has been seen yet)."""


def run_risk_verification(
    limits: RiskLimits,
    breakers: BreakerConfig | None = None,
    *,
    max_examples: int = 200,
    seed: int = 0,
    steps: int = 40,
    start_cash: Decimal | None = None,
    strategy_c: StrategyCConfig | None = None,
    progress: Progress | None = None,
) -> VerificationReport:
    """Run `risk_machine(limits, breakers)` for `max_examples` runs of up to `steps` steps.

    Deterministic: `seed` drives the generation, so the same limits and seed give the same
    answer (try other seeds to search further). No example database is read or written. When an
    invariant breaks, Hypothesis shrinks the run and the report carries the minimal
    counterexample, with `examples` the run that first failed; when none breaks, `examples` is
    how many runs passed. `progress` is told after every run, shrinking runs included.
    """
    machine = risk_machine(limits, breakers, start_cash=start_cash, strategy_c=strategy_c)
    latest: list[RiskLedgerMachine] = []
    tally = [0, 0]  # runs finished; the run that first failed (0: none yet)

    def finished(instance: RiskLedger) -> None:
        tally[0] += 1
        if instance.broken and not tally[1]:
            tally[1] = tally[0]
        if progress is not None:
            progress(tally[0], tally[1] > 0)

    def factory() -> RiskLedgerMachine:
        instance = machine()
        instance.on_teardown = finished
        latest[:] = [instance]  # the last run is the minimal example, replayed
        return instance

    run_settings = settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        database=None,
        deadline=None,
        report_multiple_bugs=False,
        phases=(Phase.generate, Phase.shrink),
        suppress_health_check=list(HealthCheck),
    )
    described = machine.setup.describe()
    try:
        # Typed for a class, documented (and used here) for any factory of machines.
        as_class = cast(type[RuleBasedStateMachine], _seeded(factory, seed))
        run_state_machine_as_test(as_class, settings=run_settings)
    except Exception as error:  # whatever broke is what the report is about
        last = latest[0] if latest else None
        return _failure(error, last, tally[1] or tally[0], described, seed)
    return VerificationReport(True, tally[0], described, seed)


def _seeded(
    factory: Callable[[], RiskLedgerMachine], value: int
) -> Callable[[], RiskLedgerMachine]:
    """`factory`, marked (`hypothesis.seed`) so that the run draws from seed `value`."""

    def seeded() -> RiskLedgerMachine:
        return factory()

    return seed(value)(seeded)


def _failure(
    error: Exception,
    last: RiskLedgerMachine | None,
    examples: int,
    described: tuple[str, ...],
    seed_value: int,
) -> VerificationReport:
    if isinstance(error, InvariantBroken):
        invariant, message = error.invariant, error.detail
    else:
        invariant, message = "unexpected_error", f"{type(error).__name__}: {error}"
    # Hypothesis notes the program it ran; keep the rule calls, drop the invariant checks.
    checks = {f"state.{name}()" for name in INVARIANTS} | {"state.teardown()"}
    notes = (" ".join(str(note).split()) for note in getattr(error, "__notes__", ()))
    program = tuple(
        n for n in notes if "state." in n and n not in checks and not n.startswith("state = ")
    )
    return VerificationReport(
        False,
        examples,
        described,
        seed_value,
        invariant,
        message,
        tuple(last.steps) if last is not None else (),
        program,
    )
