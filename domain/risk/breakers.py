"""Circuit breakers and the trading state: when new risk stops, and how it resumes.

A `CircuitBreaker` is an immutable value: CLOSED → OPEN when its condition trips, OPEN →
HALF_OPEN once its cooldown has passed, HALF_OPEN → CLOSED when a probe succeeds (or back to
OPEN when it fails). Every transition returns the new breaker and the event to audit. The
`BreakerBoard` holds the independent breakers (daily loss, drawdown, losing streak, rejection
streak, broker error rate, data staleness) and feeds them observations; the
`TradingStateMachine` holds ACTIVE / REDUCING / HALTED and the manual kill switch. Time is always
passed in; nothing here reads a clock or sends anything.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue, OrdergateError
from ordergate.domain.events import BreakerReset, BreakerTripped, TradingStateChanged
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.risk.decision import BreakerState, TradingState
from ordergate.domain.risk.rules import fmt
from ordergate.domain.values import check_decimal, check_utc

__all__ = [
    "BreakerBoard",
    "BreakerConfig",
    "BreakerEvent",
    "BreakerKind",
    "CircuitBreaker",
    "KillSwitchEngaged",
    "TradingStateMachine",
]

BreakerEvent = BreakerTripped | BreakerReset
"""What a breaker transition emits."""

_Move = Callable[["CircuitBreaker"], tuple["CircuitBreaker", BreakerEvent | None]]


class KillSwitchEngaged(OrdergateError):
    """The manual kill switch is on: trading stays HALTED until an operator releases it."""

    def __init__(self, target: TradingState) -> None:
        self.target = target
        super().__init__(
            f"cannot move to {target.value}: the kill switch is engaged; "
            "release_kill_switch() first, then resume"
        )


def _positive_duration(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, timedelta) or value <= timedelta(0):
        raise InvalidValue(name, value, "must be a datetime.timedelta > 0")


@attrs.frozen
class CircuitBreaker:
    """One breaker's state. Transitions return `(breaker, event or None)`; self never changes."""

    name: str
    cooldown: timedelta = attrs.field(validator=_positive_duration)
    state: BreakerState = BreakerState.CLOSED
    opened_at: datetime | None = None
    reason: str = ""

    @property
    def is_closed(self) -> bool:
        """True when the breaker lets new risk through."""
        return self.state is BreakerState.CLOSED

    def reopens_at(self) -> datetime | None:
        """When an OPEN breaker may move to HALF_OPEN (None unless OPEN)."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return None
        return self.opened_at + self.cooldown

    def trip(self, now: datetime, reason: str) -> tuple[CircuitBreaker, BreakerEvent | None]:
        """CLOSED or HALF_OPEN → OPEN (the cooldown starts at `now`); OPEN stays as it is."""
        check_utc("now", now)
        if self.state is BreakerState.OPEN:
            return self, None
        tripped = attrs.evolve(self, state=BreakerState.OPEN, opened_at=now, reason=reason)
        return tripped, BreakerTripped(self.name, reason, self.state, now, now)

    def tick(self, now: datetime) -> tuple[CircuitBreaker, BreakerEvent | None]:
        """OPEN → HALF_OPEN once `now` reaches `opened_at + cooldown`."""
        check_utc("now", now)
        reopens = self.reopens_at()
        if reopens is None or now < reopens:
            return self, None
        return self._move(BreakerState.HALF_OPEN, now)

    def probe(
        self, now: datetime, succeeded: bool, reason: str = "probe failed"
    ) -> tuple[CircuitBreaker, BreakerEvent | None]:
        """In HALF_OPEN: CLOSED on success, OPEN again on failure. Otherwise nothing happens."""
        check_utc("now", now)
        if self.state is not BreakerState.HALF_OPEN:
            return self, None
        if succeeded:
            return self._move(BreakerState.CLOSED, now)
        return self.trip(now, reason)

    def reset(self, now: datetime) -> tuple[CircuitBreaker, BreakerEvent | None]:
        """Manual reset: any state → CLOSED."""
        check_utc("now", now)
        if self.state is BreakerState.CLOSED:
            return self, None
        return self._move(BreakerState.CLOSED, now)

    def _move(
        self, state: BreakerState, now: datetime
    ) -> tuple[CircuitBreaker, BreakerEvent | None]:
        moved = attrs.evolve(
            self,
            state=state,
            opened_at=None if state is BreakerState.CLOSED else self.opened_at,
            reason="" if state is BreakerState.CLOSED else self.reason,
        )
        return moved, BreakerReset(self.name, state, self.state, now, now)


class BreakerKind(enum.StrEnum):
    """The board's breakers; the values are the breaker names in events and decisions."""

    DAILY_LOSS = "daily_loss"
    DRAWDOWN = "drawdown"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    CONSECUTIVE_REJECTIONS = "consecutive_rejections"
    BROKER_ERRORS = "broker_error_rate"
    DATA_STALENESS = "data_staleness"


def _fraction(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_decimal(f"{type(inst).__name__}.{attribute.name}", value, non_negative=True)


def _at_least_one(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidValue(name, value, "must be an int >= 1")


def _to_kinds(value: Iterable[BreakerKind | str]) -> frozenset[BreakerKind]:
    try:
        return frozenset(BreakerKind(v) for v in value)
    except ValueError:
        known = ", ".join(k.value for k in BreakerKind)
        raise InvalidValue(
            "BreakerConfig.disabled", value, f"must name breakers ({known})"
        ) from None


def _to_cooldowns(value: Mapping[Any, timedelta]) -> Mapping[BreakerKind, timedelta]:
    table: dict[BreakerKind, timedelta] = {}
    for key, cooldown in value.items():
        kind = BreakerKind(key)
        if not isinstance(cooldown, timedelta) or cooldown <= timedelta(0):
            raise InvalidValue(
                f"BreakerConfig.cooldowns[{kind.value}]", cooldown, "must be a timedelta > 0"
            )
        table[kind] = cooldown
    return MappingProxyType(table)


@attrs.frozen
class BreakerConfig:
    """Trip conditions and cooldowns. Fractions are fractions (0.03 is 3%).

    Defaults: daily loss 3% of session start equity, drawdown 6% from the week's high, 5 losing
    trades or 5 broker rejections in a row, 10 broker errors within 60 s, market data older than
    300 s; each breaker cools down for 5 minutes unless `cooldowns` says otherwise.
    """

    daily_loss_limit: Decimal = attrs.field(default=Decimal("0.03"), validator=_fraction)
    max_drawdown: Decimal = attrs.field(default=Decimal("0.06"), validator=_fraction)
    max_consecutive_losses: int = attrs.field(default=5, validator=_at_least_one)
    max_consecutive_rejections: int = attrs.field(default=5, validator=_at_least_one)
    max_broker_errors: int = attrs.field(default=10, validator=_at_least_one)
    broker_error_window: timedelta = attrs.field(
        default=timedelta(seconds=60), validator=_positive_duration
    )
    max_data_age: timedelta = attrs.field(
        default=timedelta(seconds=300), validator=_positive_duration
    )
    cooldown: timedelta = attrs.field(default=timedelta(minutes=5), validator=_positive_duration)
    cooldowns: Mapping[BreakerKind, timedelta] = attrs.field(
        factory=dict, converter=_to_cooldowns, hash=False
    )
    disabled: frozenset[BreakerKind] = attrs.field(factory=frozenset, converter=_to_kinds)

    def cooldown_of(self, kind: BreakerKind) -> timedelta:
        """The cooldown of `kind` (its own, else the default)."""
        return self.cooldowns.get(kind, self.cooldown)


class BreakerBoard:
    """The independent breakers of one account, fed by observations; returns what changed.

    Each `observe_*` call judges the breakers it concerns: a CLOSED breaker whose condition
    holds trips; a HALF_OPEN one closes when the condition no longer holds and reopens when it
    still does (the observation is the probe). `tick` moves OPEN breakers whose cooldown has
    passed to HALF_OPEN. A breaker that is not CLOSED blocks new risk (see `open_breakers`).
    """

    def __init__(self, config: BreakerConfig | None = None) -> None:
        self.config = config or BreakerConfig()
        self.breakers: dict[BreakerKind, CircuitBreaker] = {
            kind: CircuitBreaker(kind.value, self.config.cooldown_of(kind))
            for kind in BreakerKind
            if kind not in self.config.disabled
        }
        self.consecutive_rejections = 0
        self._errors: deque[datetime] = deque()

    @property
    def open_breakers(self) -> frozenset[str]:
        """Names of the breakers that are OPEN or HALF_OPEN (for `RiskContext.open_breakers`)."""
        return frozenset(b.name for b in self.breakers.values() if not b.is_closed)

    def state(self, kind: BreakerKind) -> BreakerState:
        """The state of one breaker (a disabled breaker is always CLOSED)."""
        breaker = self.breakers.get(kind)
        return BreakerState.CLOSED if breaker is None else breaker.state

    def observe_account(self, portfolio: Portfolio, now: datetime) -> list[BreakerEvent]:
        """Judge the daily-loss, drawdown and losing-streak breakers against the portfolio."""
        cfg = self.config
        start = portfolio.session_start_equity
        loss = start - portfolio.equity()
        allowed = cfg.daily_loss_limit * start
        drawdown = portfolio.drawdown_from_week_high()
        losses = portfolio.consecutive_losses
        return [
            *self._judge(
                BreakerKind.DAILY_LOSS,
                now,
                loss > 0 and loss >= allowed,
                f"session loss {fmt(loss)} reached {fmt(allowed)} "
                f"(daily_loss_limit {fmt(cfg.daily_loss_limit)} of {fmt(start)})",
            ),
            *self._judge(
                BreakerKind.DRAWDOWN,
                now,
                drawdown > 0 and drawdown >= cfg.max_drawdown,
                f"drawdown {fmt(drawdown)} from the week's high reached "
                f"max_drawdown {fmt(cfg.max_drawdown)}",
            ),
            *self._judge(
                BreakerKind.CONSECUTIVE_LOSSES,
                now,
                losses >= cfg.max_consecutive_losses,
                f"{losses} losing trades in a row reached {cfg.max_consecutive_losses}",
            ),
        ]

    def observe_rejection(self, now: datetime) -> list[BreakerEvent]:
        """The broker rejected an order: count the streak; in HALF_OPEN the probe failed."""
        self.consecutive_rejections += 1
        limit = self.config.max_consecutive_rejections
        kind = BreakerKind.CONSECUTIVE_REJECTIONS
        failing = self.consecutive_rejections >= limit or self._half_open(kind)
        reason = f"{self.consecutive_rejections} rejections in a row (limit {limit})"
        return self._judge(kind, now, failing, reason)

    def observe_acceptance(self, now: datetime) -> list[BreakerEvent]:
        """The broker accepted an order: the rejection streak ends (a successful probe)."""
        self.consecutive_rejections = 0
        return self._judge(BreakerKind.CONSECUTIVE_REJECTIONS, now, False, "")

    def observe_broker_error(self, now: datetime) -> list[BreakerEvent]:
        """A broker call failed: count it in the sliding window; in HALF_OPEN the probe failed."""
        check_utc("now", now)
        self._errors.append(now)
        self._prune_errors(now)
        cfg = self.config
        kind = BreakerKind.BROKER_ERRORS
        count = len(self._errors)
        failing = count >= cfg.max_broker_errors or self._half_open(kind)
        window = cfg.broker_error_window.total_seconds()
        reason = f"{count} broker errors within {window:g}s (limit {cfg.max_broker_errors})"
        return self._judge(kind, now, failing, reason)

    def observe_broker_success(self, now: datetime) -> list[BreakerEvent]:
        """A broker call succeeded: a successful probe for a HALF_OPEN error-rate breaker."""
        return self._judge(BreakerKind.BROKER_ERRORS, now, False, "")

    def observe_data_age(self, age: timedelta, now: datetime) -> list[BreakerEvent]:
        """Market data of this age was just used: too old trips, fresh again probes closed."""
        limit = self.config.max_data_age
        reason = f"market data {age.total_seconds():g}s old exceeds {limit.total_seconds():g}s"
        return self._judge(BreakerKind.DATA_STALENESS, now, age > limit, reason)

    def tick(self, now: datetime) -> list[BreakerEvent]:
        """Move every OPEN breaker whose cooldown has passed to HALF_OPEN."""
        self._prune_errors(now)
        events: list[BreakerEvent] = []
        for kind, breaker in self.breakers.items():
            moved, event = breaker.tick(now)
            if event is not None:
                self.breakers[kind] = moved
                events.append(event)
        return events

    def trip(self, kind: BreakerKind, now: datetime, reason: str) -> list[BreakerEvent]:
        """Trip a breaker by hand (an operator, or a rule outside the board such as Strategy C)."""
        return self._apply(kind, lambda b: b.trip(now, reason))

    def reset(self, kind: BreakerKind, now: datetime) -> list[BreakerEvent]:
        """Close a breaker by hand, whatever its state."""
        return self._apply(kind, lambda b: b.reset(now))

    def _half_open(self, kind: BreakerKind) -> bool:
        return self.state(kind) is BreakerState.HALF_OPEN

    def _prune_errors(self, now: datetime) -> None:
        horizon = now - self.config.broker_error_window
        errors = self._errors
        while errors and errors[0] <= horizon:
            errors.popleft()

    def _judge(
        self, kind: BreakerKind, now: datetime, failing: bool, reason: str
    ) -> list[BreakerEvent]:
        breaker = self.breakers.get(kind)
        if breaker is None:
            return []
        if breaker.state is BreakerState.HALF_OPEN:
            return self._apply(kind, lambda b: b.probe(now, not failing, reason))
        if failing:
            return self._apply(kind, lambda b: b.trip(now, reason))
        return []

    def _apply(self, kind: BreakerKind, move: _Move) -> list[BreakerEvent]:
        breaker = self.breakers.get(kind)
        if breaker is None:
            return []
        moved, event = move(breaker)
        self.breakers[kind] = moved
        return [] if event is None else [event]


@attrs.define
class TradingStateMachine:
    """ACTIVE / REDUCING / HALTED plus the manual kill switch; transitions return their event.

    While the kill switch is engaged the state is HALTED and any move away from HALTED raises
    `KillSwitchEngaged`; releasing the switch leaves the state HALTED until `resume`.
    `decisions` counts every transition asked for, including those to the state already held,
    so whoever set a state can tell whether anyone decided anything since.
    """

    state: TradingState = TradingState.ACTIVE
    kill_switch: bool = False
    reason: str = ""
    changed_at: datetime | None = attrs.field(default=None)
    decisions: int = 0

    def transition(
        self, target: TradingState, now: datetime, reason: str
    ) -> TradingStateChanged | None:
        """Move to `target`; None when already there. Raises `KillSwitchEngaged`."""
        check_utc("now", now)
        if self.kill_switch and target is not TradingState.HALTED:
            raise KillSwitchEngaged(target)
        self.decisions += 1
        if target is self.state:
            return None
        previous = self.state
        self.state, self.reason, self.changed_at = target, reason, now
        return TradingStateChanged(target, previous, reason, now, now)

    def reduce(self, now: datetime, reason: str) -> TradingStateChanged | None:
        """Only reducing orders, closures and flattens from now on."""
        return self.transition(TradingState.REDUCING, now, reason)

    def halt(self, now: datetime, reason: str) -> TradingStateChanged | None:
        """Only closures and flattens from now on."""
        return self.transition(TradingState.HALTED, now, reason)

    def resume(self, now: datetime, reason: str) -> TradingStateChanged | None:
        """Back to ACTIVE. Raises `KillSwitchEngaged` while the switch is on."""
        return self.transition(TradingState.ACTIVE, now, reason)

    def engage_kill_switch(self, now: datetime, reason: str) -> TradingStateChanged | None:
        """Halt and stay halted until an operator releases the switch."""
        self.kill_switch = True
        return self.halt(now, f"kill switch: {reason}")

    def release_kill_switch(self) -> None:
        """Allow `resume`/`reduce` again; the state stays HALTED until one is called."""
        self.kill_switch = False
