"""The settings classes: frozen attrs values, one per TOML section, validated on the field.

Validators raise `InvalidValue(field, value, rule)` with the bare field name; the loader adds the
section path (`risk.max_position: must be >= 0; got -5`). Defaults are the embedded defaults of
SPEC §8: the simulated broker, a SQLite audit file, in-memory publisher and signals, paper mode.
Import these names from `ordergate.application.config`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeVar

import attrs

from ordergate.application._secrets import (
    POSTGRES_PASSWORD_VARIABLE,
    REDIS_PASSWORD_VARIABLE,
    Secrets,
    has_inline_password,
    redact,
)
from ordergate.domain.errors import InvalidValue
from ordergate.domain.risk.breakers import BreakerConfig, BreakerKind
from ordergate.domain.risk.limits import InstrumentLimits, RiskLimits, Rule
from ordergate.domain.strategy_c import StrategyCConfig
from ordergate.domain.values import InstrumentId, check_decimal

__all__ = [
    "CLIENT_ID_CLI",
    "CLIENT_ID_DIAGNOSTIC",
    "CLIENT_ID_TRADING",
    "AuditKind",
    "AuditSettings",
    "BreakersSettings",
    "BrokerKind",
    "BrokerSettings",
    "InstrumentRiskSettings",
    "MarketDataKind",
    "MarketDataSettings",
    "Mode",
    "PublisherKind",
    "PublisherSettings",
    "RiskSettings",
    "SessionSettings",
    "Settings",
    "SignalsKind",
    "SignalsSettings",
    "StrategyCSettings",
]

CLIENT_ID_TRADING = 1
CLIENT_ID_DIAGNOSTIC = 2
CLIENT_ID_CLI = 3

_E = TypeVar("_E", bound=enum.Enum)


class Mode(enum.StrEnum):
    """How orders leave the gate: not at all (`dry_run`), to a paper account, or live."""

    DRY_RUN = "dry_run"
    PAPER = "paper"
    LIVE = "live"


class BrokerKind(enum.StrEnum):
    """Which `Broker` adapter the composition root builds."""

    SIM = "sim"
    IBKR = "ibkr"
    FAKE = "fake"


class MarketDataKind(enum.StrEnum):
    """Which `MarketData` adapter the composition root builds."""

    SIM = "sim"
    IBKR = "ibkr"
    FAKE = "fake"


class AuditKind(enum.StrEnum):
    """Which `AuditLog` adapter the composition root builds."""

    SQLITE = "sqlite"
    POSTGRES = "postgres"
    MEMORY = "memory"


class PublisherKind(enum.StrEnum):
    """Which `EventPublisher` adapter the composition root builds."""

    MEMORY = "memory"
    REDIS = "redis"


class SignalsKind(enum.StrEnum):
    """Which `SignalSource` adapter the composition root builds."""

    MEMORY = "memory"
    REDIS = "redis"


# --- field validators (bare field names; the loader prefixes the section) ---------------------


def _decimal(*, positive: bool = False) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check_decimal(attribute.name, value, positive=positive, non_negative=True)

    return validate


def _integer(low: int, high: int | None = None) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValue(attribute.name, value, "must be an integer")
        if value < low or (high is not None and value > high):
            rule = f"must be >= {low}" if high is None else f"must be between {low} and {high}"
            raise InvalidValue(attribute.name, value, rule)

    return validate


def _seconds(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
        raise InvalidValue(attribute.name, value, "must be a number of seconds > 0")


def _text(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidValue(attribute.name, value, "must be a non-empty string")


def _no_password(variable: str) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        _text(inst, attribute, value)
        if value is not None and has_inline_password(value):
            raise InvalidValue(
                attribute.name,
                redact(value),
                f"holds a password; remove it and set {variable} in the environment",
            )

    return validate


def _fraction(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_decimal(attribute.name, value, positive=True)
    if value > 1:
        raise InvalidValue(attribute.name, value, "must be a fraction in (0, 1] (0.40 is 40%)")


def _limit(default: str) -> Any:
    return attrs.field(default=Decimal(default), validator=_decimal())


def _count(default: int, low: int = 0) -> Any:
    return attrs.field(default=default, validator=_integer(low))


def _switches(keys: type[_E], value: Mapping[_E, bool]) -> Mapping[_E, bool]:
    """Every member of `keys` with its switch (on unless listed as false), read-only."""
    return MappingProxyType({member: bool(value.get(member, True)) for member in keys})


def _rule_switches(value: Mapping[Rule, bool]) -> Mapping[Rule, bool]:
    return _switches(Rule, value)


def _breaker_switches(value: Mapping[BreakerKind, bool]) -> Mapping[BreakerKind, bool]:
    return _switches(BreakerKind, value)


# --- sections ---------------------------------------------------------------------------------


@attrs.frozen
class BrokerSettings:
    """`[broker]`: which broker, and how to reach IB (ignored by `sim` and `fake`).

    Client ids: 1 trading, 2 diagnostic, 3 CLI. Timeouts are seconds.
    """

    kind: BrokerKind = BrokerKind.SIM
    host: str = attrs.field(default="127.0.0.1", validator=_text)
    port: int = attrs.field(default=4002, validator=_integer(1, 65535))
    client_id: int = attrs.field(default=CLIENT_ID_TRADING, validator=_integer(0))
    connect_timeout: float = attrs.field(default=10.0, validator=_seconds)
    request_timeout: float = attrs.field(default=10.0, validator=_seconds)
    max_requests_per_second: int = attrs.field(default=45, validator=_integer(0))
    """ib_async's request throttle: 45 is IB's safe rate; 0 lifts it (the local emulator)."""


@attrs.frozen
class MarketDataSettings:
    """`[market_data]`: the quote source, and after how many seconds a quote is stale."""

    kind: MarketDataKind = MarketDataKind.SIM
    staleness_seconds: float = attrs.field(default=300.0, validator=_seconds)


@attrs.frozen
class AuditSettings:
    """`[audit]`: where the audit log lives: `path` (sqlite), or `dsn`, `schema` and `table`
    (postgres; the DSN never holds the password).

    `hmac_key_env` names the environment variable that holds the HMAC key (never the key).
    """

    kind: AuditKind = AuditKind.SQLITE
    path: str = attrs.field(default="ordergate-audit.db", validator=_text)
    dsn: str | None = attrs.field(default=None, validator=_no_password(POSTGRES_PASSWORD_VARIABLE))
    schema: str = attrs.field(default="public", validator=_text)
    table: str = attrs.field(default="ordergate_audit", validator=_text)
    hmac_key_env: str | None = attrs.field(default=None, validator=_text)

    def __attrs_post_init__(self) -> None:
        if self.kind is AuditKind.POSTGRES and self.dsn is None:
            raise InvalidValue("dsn", None, "is required when kind = 'postgres'")


@attrs.frozen
class PublisherSettings:
    """`[publisher]`: where lifecycle events go; Redis streams are capped at `stream_maxlen`."""

    kind: PublisherKind = PublisherKind.MEMORY
    url: str = attrs.field(
        default="redis://127.0.0.1:6379/0", validator=_no_password(REDIS_PASSWORD_VARIABLE)
    )
    stream_maxlen: int = attrs.field(default=100_000, validator=_integer(1))


@attrs.frozen
class SignalsSettings:
    """`[signals]`: where `ordergate serve` reads signals (a Redis stream and consumer group)."""

    kind: SignalsKind = SignalsKind.MEMORY
    url: str = attrs.field(
        default="redis://127.0.0.1:6379/0", validator=_no_password(REDIS_PASSWORD_VARIABLE)
    )
    stream: str = attrs.field(default="ordergate:signals", validator=_text)
    group: str = attrs.field(default="ordergate", validator=_text)


@attrs.frozen
class InstrumentRiskSettings:
    """`[risk.overrides.<instrument>]`: per-instrument limits; unset ones use `[risk]`'s."""

    max_order_quantity: Decimal | None = attrs.field(default=None, validator=_decimal())
    max_order_notional: Decimal | None = attrs.field(default=None, validator=_decimal())
    max_position: Decimal | None = attrs.field(default=None, validator=_decimal())


@attrs.frozen
class BreakersSettings:
    """`[risk.breakers]`: circuit breakers beyond the loss limits of `[risk]` (seconds, counts).

    The daily-loss, drawdown and losing-streak breakers take their limits from `[risk]`.
    """

    max_consecutive_rejections: int = _count(5, low=1)
    max_broker_errors: int = _count(10, low=1)
    broker_error_window_seconds: float = attrs.field(default=60.0, validator=_seconds)
    max_data_age_seconds: float = attrs.field(default=300.0, validator=_seconds)
    cooldown_seconds: float = attrs.field(default=300.0, validator=_seconds)
    enabled: Mapping[BreakerKind, bool] = attrs.field(
        factory=dict, converter=_breaker_switches, hash=False
    )


@attrs.frozen
class RiskSettings:
    """`[risk]`: the gate's limits (mirrors `RiskLimits`); `[risk.enabled]` switches rules.

    Money, quantities and fractions are Decimals (0.03 is 3%); counts are integers; durations
    are seconds. Every limit must be >= 0.
    """

    max_order_quantity: Decimal = _limit("1000")
    max_order_notional: Decimal = _limit("50000")
    max_position: Decimal = _limit("2000")
    max_gross_notional: Decimal = _limit("250000")
    max_leverage: Decimal = _limit("2")
    max_open_orders: int = _count(50)
    max_submit_rate: int = _count(40)
    submit_rate_window_seconds: float = attrs.field(default=1.0, validator=_seconds)
    daily_loss_limit: Decimal = _limit("0.03")
    max_weekly_drawdown: Decimal = _limit("0.06")
    max_consecutive_losses: int = _count(5, low=1)
    pdt_equity_threshold: Decimal = _limit("25000")
    pdt_max_day_trades: int = _count(3)
    pdt_window_business_days: int = _count(5)
    price_collar: Decimal = _limit("0.10")
    max_quote_age_seconds: float = attrs.field(default=60.0, validator=_seconds)
    enabled: Mapping[Rule, bool] = attrs.field(factory=dict, converter=_rule_switches, hash=False)
    overrides: Mapping[str, InstrumentRiskSettings] = attrs.field(factory=dict, hash=False)
    breakers: BreakersSettings = attrs.field(factory=BreakersSettings)

    def to_limits(self) -> RiskLimits:
        """The domain's `RiskLimits` for these settings."""
        return RiskLimits(
            max_order_quantity=self.max_order_quantity,
            max_order_notional=self.max_order_notional,
            max_position=self.max_position,
            max_gross_notional=self.max_gross_notional,
            max_leverage=self.max_leverage,
            max_open_orders=self.max_open_orders,
            max_submit_rate=self.max_submit_rate,
            submit_rate_window=timedelta(seconds=self.submit_rate_window_seconds),
            daily_loss_limit=self.daily_loss_limit,
            max_weekly_drawdown=self.max_weekly_drawdown,
            max_consecutive_losses=self.max_consecutive_losses,
            pdt_equity_threshold=self.pdt_equity_threshold,
            pdt_max_day_trades=self.pdt_max_day_trades,
            pdt_window_business_days=self.pdt_window_business_days,
            price_collar=self.price_collar,
            max_quote_age=timedelta(seconds=self.max_quote_age_seconds),
            overrides={
                InstrumentId(symbol): InstrumentLimits(
                    max_order_quantity=limits.max_order_quantity,
                    max_order_notional=limits.max_order_notional,
                    max_position=limits.max_position,
                )
                for symbol, limits in self.overrides.items()
            },
            disabled=frozenset(rule for rule, on in self.enabled.items() if not on),
        )

    def to_breaker_config(self) -> BreakerConfig:
        """The domain's `BreakerConfig`: loss limits from `[risk]`, the rest from `breakers`."""
        breakers = self.breakers
        return BreakerConfig(
            daily_loss_limit=self.daily_loss_limit,
            max_drawdown=self.max_weekly_drawdown,
            max_consecutive_losses=self.max_consecutive_losses,
            max_consecutive_rejections=breakers.max_consecutive_rejections,
            max_broker_errors=breakers.max_broker_errors,
            broker_error_window=timedelta(seconds=breakers.broker_error_window_seconds),
            max_data_age=timedelta(seconds=breakers.max_data_age_seconds),
            cooldown=timedelta(seconds=breakers.cooldown_seconds),
            disabled=frozenset(kind for kind, on in breakers.enabled.items() if not on),
        )


@attrs.frozen
class StrategyCSettings:
    """`[strategy_c]`: close options at `dte` days to expiry, on an `emergency_loss_pct` loss
    (a fraction of cost basis), and everything when data is older than `stale_seconds`."""

    dte: int = _count(3)
    emergency_loss_pct: Decimal = attrs.field(default=Decimal("0.40"), validator=_fraction)
    stale_seconds: int = _count(300, low=1)

    def to_config(self) -> StrategyCConfig:
        """The domain's `StrategyCConfig` for these settings."""
        return StrategyCConfig(
            dte_threshold=self.dte,
            emergency_loss_pct=self.emergency_loss_pct,
            stale_after_seconds=self.stale_seconds,
        )


@attrs.frozen
class SessionSettings:
    """`[session]`: what `ordergate run` replays on the simulated broker.

    `bars` is how many daily bars per symbol to replay (default 500, about two years; 0 = all);
    `bars_file` a CSV of daily bars (unset = the bundled AAPL/MSFT/IBM data); `seed` makes the
    simulation repeatable; `exercise_threshold` is how far in the money (per share) an option
    must be at expiry for the simulated broker to exercise or assign it (IB's $0.01).
    """

    symbols: tuple[str, ...] = attrs.field(default=("AAPL", "MSFT", "IBM"))
    bars: int = _count(500)
    bars_file: str | None = attrs.field(default=None, validator=_text)
    seed: int = _count(7)
    starting_cash: Decimal = attrs.field(
        default=Decimal("100000"), validator=_decimal(positive=True)
    )
    exercise_threshold: Decimal = attrs.field(default=Decimal("0.01"), validator=_decimal())

    @symbols.validator
    def _check_symbols(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple) or not value:
            raise InvalidValue(attribute.name, value, "must list at least one symbol")
        for symbol in value:
            if not isinstance(symbol, str) or not symbol.strip():
                raise InvalidValue(attribute.name, value, "symbols must be non-empty strings")


@attrs.frozen
class Settings:
    """Everything ordergate is configured with. Build it with `load_settings()`.

    `operator_id` travels on every order (IB `orderRef`); `account_id` is the IB account code,
    required for live trading and checked against the mode by `check_arming`.
    `secrets` is filled from the environment only (never from the file).
    """

    mode: Mode = Mode.PAPER
    operator_id: str = attrs.field(default="ordergate", validator=_text)
    account_id: str | None = attrs.field(default=None, validator=_text)
    broker: BrokerSettings = attrs.field(factory=BrokerSettings)
    market_data: MarketDataSettings = attrs.field(factory=MarketDataSettings)
    audit: AuditSettings = attrs.field(factory=AuditSettings)
    publisher: PublisherSettings = attrs.field(factory=PublisherSettings)
    signals: SignalsSettings = attrs.field(factory=SignalsSettings)
    risk: RiskSettings = attrs.field(factory=RiskSettings)
    strategy_c: StrategyCSettings = attrs.field(factory=StrategyCSettings)
    session: SessionSettings = attrs.field(factory=SessionSettings)
    secrets: Secrets = attrs.field(factory=Secrets, repr=False, metadata={"from_file": False})
