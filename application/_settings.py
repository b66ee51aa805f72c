"""The settings classes: frozen attrs values, one per TOML section, validated on the field.

Validators raise `InvalidValue(field, value, rule)` with the bare field name; the loader adds the
section path (`risk.max_position: must be >= 0; got -5`). Defaults are the embedded defaults of
SPEC §8: the simulated broker, a SQLite audit file, in-memory publisher and signals, paper mode.
Import these names from `ordergate.application.config`.
"""

from __future__ import annotations

import difflib
import enum
import ipaddress
import re
from collections.abc import Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NewType, TypeVar

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
    "MAX_AMOUNT",
    "AlertsSettings",
    "AuditKind",
    "AuditSettings",
    "BreakersSettings",
    "BrokerKind",
    "BrokerSettings",
    "InstrumentRiskSettings",
    "LoggingSettings",
    "MarketDataKind",
    "MarketDataSettings",
    "Mode",
    "OnStop",
    "PublisherKind",
    "PublisherSettings",
    "RiskSettings",
    "ServeMarket",
    "ServeSettings",
    "ServiceSettings",
    "SessionSettings",
    "Settings",
    "SignalsKind",
    "SignalsSettings",
    "StrategyCSettings",
    "UnitFraction",
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


class ServeMarket(enum.StrEnum):
    """What moves the simulated market while `ordergate serve` runs on the sim broker."""

    REPLAY = "replay"
    SYNTHETIC = "synthetic"


class OnStop(enum.StrEnum):
    """What `ordergate serve` does with working orders when it stops (SIGTERM)."""

    KEEP = "keep"
    CANCEL = "cancel"


class SignalsKind(enum.StrEnum):
    """Which `SignalSource` adapter the composition root builds."""

    MEMORY = "memory"
    REDIS = "redis"


# --- field validators (bare field names; the loader prefixes the section) ---------------------

UnitFraction = NewType("UnitFraction", Decimal)
"""A fraction in [0, 1) (0.03 is 3%); the file may also write it as a percent string, "3%"."""

# The bounds of the values' domains (SPEC §11: every value is checked against its domain).
# Money and quantities: a quadrillion, far inside the 28 digits of Decimal's default context.
MAX_AMOUNT = Decimal(10) ** 15
MAX_LEVERAGE = Decimal(100)
MIN_SECONDS = 0.001  # below a millisecond a duration is zero to the clock (timedelta, asyncio)
MAX_TIMEOUT_SECONDS = 3600.0
MAX_DURATION_SECONDS = 7 * 86_400.0
MAX_COUNT = 1_000_000
MAX_TEXT = 256
MAX_PATH = 4096
_INT32 = 2**31 - 1
_OPERATOR = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")
_ACCOUNT = re.compile(r"[A-Za-z0-9]{1,32}")
_HOST = re.compile(r"[A-Za-z0-9._:\[\]-]{1,253}")
_SQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SYMBOL = re.compile(r"[A-Z0-9]+(?:[. /-][A-Z0-9]+)*")
_MAX_SYMBOL = 12
_OPTION_ID = re.compile(r"(?P<underlying>[A-Z0-9][A-Z0-9. /-]{0,5}) *\d{6}[CP]\d{8}")
_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")

_Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]


def _decimal(*, positive: bool = False, maximum: Decimal = MAX_AMOUNT) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        check_decimal(attribute.name, value, positive=positive, non_negative=True)
        if value > maximum:
            low = "> 0" if positive else ">= 0"
            raise InvalidValue(attribute.name, value, f"must be {low} and at most {maximum:f}")

    return validate


def _fraction(*, positive: bool = False) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        check_decimal(attribute.name, value)
        low_ok = value > 0 if positive else value >= 0
        if not (low_ok and value < 1):
            interval = "(0, 1)" if positive else "[0, 1)"
            raise InvalidValue(
                attribute.name,
                value,
                f'must be a fraction in {interval}: 0.03 is 3%, or write the percent as "3%"',
            )

    return validate


def _integer(low: int, high: int) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidValue(attribute.name, value, "must be an integer")
        if not low <= value <= high:
            raise InvalidValue(attribute.name, value, f"must be between {low} and {high}")

    return validate


def _seconds(maximum: float = MAX_DURATION_SECONDS) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not MIN_SECONDS <= value <= maximum
        ):
            raise InvalidValue(
                attribute.name,
                value,
                f"must be a number of seconds between {MIN_SECONDS:g} and {maximum:g}",
            )

    return validate


def _has_control(value: str) -> bool:
    return any(ord(c) < 32 or 127 <= ord(c) < 160 for c in value)


def _text(
    pattern: re.Pattern[str] | None = None, rule: str = "", max_length: int = MAX_TEXT
) -> _Validator:
    """Non-empty text of at most `max_length` characters, without control characters (NUL,
    newlines), matching `pattern` in full when given (`rule` says what it allows)."""

    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is None:
            return
        if not isinstance(value, str) or not value.strip():
            raise InvalidValue(attribute.name, value, "must be a non-empty string")
        if len(value) > max_length:
            raise InvalidValue(
                attribute.name, value, f"must be at most {max_length} characters long"
            )
        if _has_control(value):
            raise InvalidValue(
                attribute.name, value, "must not contain control characters (NUL, newlines)"
            )
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidValue(attribute.name, value, rule)

    return validate


def _path(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A file path (its place on disk is checked by the commands that use it)."""
    _text(max_length=MAX_PATH)(inst, attribute, value)
    if value is not None and value.endswith(("/", "\\")):
        raise InvalidValue(attribute.name, value, "must name a file, not a directory")


def _no_password(variable: str, schemes: tuple[str, ...] = ()) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        _text(max_length=1024)(inst, attribute, value)
        if value is None:
            return
        if has_inline_password(value):
            raise InvalidValue(
                attribute.name,
                redact(value),
                f"holds a password; remove it and set {variable} in the environment",
            )
        if schemes and not value.startswith(schemes):
            raise InvalidValue(
                attribute.name, value, f"must be a URL starting with {' or '.join(schemes)}"
            )

    return validate


def _limit(default: str) -> Any:
    return attrs.field(default=Decimal(default), validator=_decimal())


def _share(default: str, *, positive: bool = False) -> Any:
    return attrs.field(
        default=UnitFraction(Decimal(default)), validator=_fraction(positive=positive)
    )


def _count(default: int, low: int = 0, high: int = MAX_COUNT) -> Any:
    return attrs.field(default=default, validator=_integer(low, high))


def _duration(default: float, maximum: float = MAX_DURATION_SECONDS) -> Any:
    return attrs.field(default=default, validator=_seconds(maximum))


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

    Client ids: 1 trading, 2 diagnostic, 3 CLI. Timeouts are seconds (at most an hour).
    """

    kind: BrokerKind = BrokerKind.SIM
    host: str = attrs.field(
        default="127.0.0.1",
        validator=_text(_HOST, "must be a host name or IP address", max_length=253),
    )
    port: int = attrs.field(default=4002, validator=_integer(1, 65535))
    client_id: int = attrs.field(default=CLIENT_ID_TRADING, validator=_integer(0, _INT32))
    connect_timeout: float = _duration(10.0, MAX_TIMEOUT_SECONDS)
    request_timeout: float = _duration(10.0, MAX_TIMEOUT_SECONDS)
    max_requests_per_second: int = _count(45, high=10_000)
    """ib_async's request throttle: 45 is IB's safe rate; 0 lifts it (the local emulator)."""


@attrs.frozen
class MarketDataSettings:
    """`[market_data]`: the quote source, and after how many seconds a quote is stale."""

    kind: MarketDataKind = MarketDataKind.SIM
    staleness_seconds: float = _duration(300.0)


@attrs.frozen
class AuditSettings:
    """`[audit]`: where the audit log lives: `path` (sqlite), or `dsn`, `schema` and `table`
    (postgres; the DSN never holds the password).

    `hmac_key_env` names the environment variable that holds the HMAC key (never the key).
    """

    kind: AuditKind = AuditKind.SQLITE
    path: str = attrs.field(default="ordergate-audit.db", validator=_path)
    dsn: str | None = attrs.field(default=None, validator=_no_password(POSTGRES_PASSWORD_VARIABLE))
    schema: str = attrs.field(
        default="public",
        validator=_text(_SQL_NAME, "must be an SQL name (letters, digits, _)", max_length=63),
    )
    table: str = attrs.field(
        default="ordergate_audit",
        validator=_text(_SQL_NAME, "must be an SQL name (letters, digits, _)", max_length=48),
    )
    hmac_key_env: str | None = attrs.field(
        default=None,
        validator=_text(_VARIABLE, "must be an environment variable name (letters, digits, _)"),
    )

    def __attrs_post_init__(self) -> None:
        if self.kind is AuditKind.POSTGRES and self.dsn is None:
            raise InvalidValue("dsn", None, "is required when audit.kind = 'postgres'")


_TOPIC_PREFIX = re.compile(r"[A-Za-z0-9._-]+(?::[A-Za-z0-9._-]+)*")


def _topic_prefix(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or (value and not _TOPIC_PREFIX.fullmatch(value)):
        raise InvalidValue(
            attribute.name,
            value,
            "must be empty or letters, digits, '.', '_', '-', with ':' between parts",
        )


@attrs.frozen
class ServeSettings:
    """`[serve]`: the long-running `ordergate serve`.

    `market` / `speed`: on the sim broker the market moves while serve runs, a replay of the
    session's bars (one step = one trading day) or the synthetic one-minute market, at `speed`
    simulated seconds per real second (1 = real time). `on_stop`: working orders are kept at
    the broker when serve stops (SIGTERM), or cancelled. `reconcile_every`: seconds between two
    divergence checks against the broker (0: never).
    """

    market: ServeMarket = ServeMarket.REPLAY
    speed: float = attrs.field(default=1.0, validator=_seconds(1e9))
    on_stop: OnStop = OnStop.KEEP
    reconcile_every: float = 60.0

    def __attrs_post_init__(self) -> None:
        every = self.reconcile_every
        if (
            not isinstance(every, int | float)
            or isinstance(every, bool)
            or not 0 <= every <= MAX_DURATION_SECONDS
        ):
            raise InvalidValue(
                "reconcile_every", every, f"must be seconds in [0, {MAX_DURATION_SECONDS:g}]"
            )


@attrs.frozen
class PublisherSettings:
    """`[publisher]`: where lifecycle events go; Redis streams are capped at `stream_maxlen`;
    `prefix` (default none) goes before every topic name (`adapters/topics.py`)."""

    kind: PublisherKind = PublisherKind.MEMORY
    url: str = attrs.field(
        default="redis://127.0.0.1:6379/0",
        validator=_no_password(REDIS_PASSWORD_VARIABLE, _REDIS_SCHEMES),
    )
    stream_maxlen: int = _count(100_000, low=1, high=1_000_000_000)
    prefix: str = attrs.field(default="", validator=_topic_prefix)


_ALERT_RULE_NAMES = (
    "breaker_tripped",
    "trading_state",
    "broker_rejection",
    "reconnects",
    "audit_failure",
    "publisher_outage",
    "divergence",
    "data_staleness",
)


def _alert_rules(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    unknown = [v for v in value if v not in _ALERT_RULE_NAMES]
    if unknown:
        raise InvalidValue(
            attribute.name, unknown, f"must name alert rules ({', '.join(_ALERT_RULE_NAMES)})"
        )


def _webhook(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise InvalidValue(attribute.name, value, "must be an http:// or https:// URL (or unset)")
    if has_inline_password(value):
        raise InvalidValue(attribute.name, "***", "must not carry a password")


def _one_of(choices: tuple[str, ...]) -> _Validator:
    def validate(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value not in choices:
            raise InvalidValue(attribute.name, value, f"must be one of {', '.join(choices)}")

    return validate


@attrs.frozen
class AlertsSettings:
    """`[alerts]`: where alerts are POSTed (`webhook_url`; unset: no alerts), which `rules`
    fire (default: all), `reconnects` within `reconnect_window` seconds for the reconnect
    rule, and the webhook's bounded `queue`, `retries`, `backoff` and `timeout` (seconds)."""

    webhook_url: str | None = attrs.field(default=None, validator=_webhook)
    rules: tuple[str, ...] = attrs.field(default=_ALERT_RULE_NAMES, validator=_alert_rules)
    reconnects: int = _count(3, low=1, high=1000)
    reconnect_window: float = _duration(300.0)
    queue: int = _count(1000, low=1, high=1_000_000)
    retries: int = _count(3, low=0, high=100)
    backoff: float = _duration(0.5)
    timeout: float = _duration(2.0, maximum=300.0)


@attrs.frozen
class LoggingSettings:
    """`[logging]`: the level (DEBUG, INFO, WARNING, ERROR) and format (text, json) every
    command logs with, unless `--log-level` / `--log-format` (or their variables) say."""

    level: str = attrs.field(
        default="WARNING", validator=_one_of(("DEBUG", "INFO", "WARNING", "ERROR"))
    )
    format: str = attrs.field(default="text", validator=_one_of(("text", "json")))


@attrs.frozen
class SignalsSettings:
    """`[signals]`: where `ordergate serve` reads signals (a Redis stream and consumer group)."""

    kind: SignalsKind = SignalsKind.MEMORY
    url: str = attrs.field(
        default="redis://127.0.0.1:6379/0",
        validator=_no_password(REDIS_PASSWORD_VARIABLE, _REDIS_SCHEMES),
    )
    stream: str = attrs.field(default="ordergate:signals", validator=_text(max_length=200))
    group: str = attrs.field(default="ordergate", validator=_text(max_length=200))


def is_loopback(host: str) -> bool:
    """True for `localhost` and every loopback address (127.0.0.0/8, ::1, [::1])."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


@attrs.frozen
class ServiceSettings:
    """`[service]`: the control API `ordergate serve` offers over HTTP, and where the operator
    commands (`status`, `positions`, `halt`, ...) look for a running service.

    Off unless `enabled`. It binds `host:port`, a loopback address unless `allow_remote` says
    otherwise (the API has no TLS: put a reverse proxy in front of a remote one). Every write
    needs the bearer token held by the environment variable `token_env` (never the token
    itself); `serve` refuses to start the API while that variable is unset or empty.
    `timeout` is how long a command waits for the service's answer.
    """

    enabled: bool = False
    host: str = attrs.field(
        default="127.0.0.1",
        validator=_text(_HOST, "must be a host name or IP address", max_length=253),
    )
    port: int = attrs.field(default=8765, validator=_integer(1, 65535))
    token_env: str = attrs.field(
        default="ORDERGATE_API_TOKEN",
        validator=_text(_VARIABLE, "must be an environment variable name (letters, digits, _)"),
    )
    allow_remote: bool = False
    timeout: float = _duration(10.0, MAX_TIMEOUT_SECONDS)

    def __attrs_post_init__(self) -> None:
        if not self.allow_remote and not is_loopback(self.host):
            raise InvalidValue(
                "host",
                self.host,
                "must be a loopback address (127.0.0.1, ::1 or localhost); set "
                "service.allow_remote = true to serve the API on another interface",
            )


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
    broker_error_window_seconds: float = _duration(60.0)
    max_data_age_seconds: float = _duration(300.0)
    cooldown_seconds: float = _duration(300.0)
    enabled: Mapping[BreakerKind, bool] = attrs.field(
        factory=dict, converter=_breaker_switches, hash=False
    )


@attrs.frozen
class RiskSettings:
    """`[risk]`: the gate's limits (mirrors `RiskLimits`); `[risk.enabled]` switches rules.

    Money and quantities are Decimals between 0 and `MAX_AMOUNT`; fractions are `UnitFraction`s
    in [0, 1) (0.03 is 3%, or "3%" in the file); counts are integers; durations are seconds.
    """

    max_order_quantity: Decimal = _limit("1000")
    max_order_notional: Decimal = _limit("50000")
    max_position: Decimal = _limit("2000")
    max_gross_notional: Decimal = _limit("250000")
    max_leverage: Decimal = attrs.field(
        default=Decimal(2), validator=_decimal(maximum=MAX_LEVERAGE)
    )
    max_open_orders: int = _count(50)
    max_submit_rate: int = _count(40)
    submit_rate_window_seconds: float = _duration(1.0)
    daily_loss_limit: UnitFraction = _share("0.03")
    max_weekly_drawdown: UnitFraction = _share("0.06")
    max_consecutive_losses: int = _count(5, low=1)
    pdt_equity_threshold: Decimal = _limit("25000")
    pdt_max_day_trades: int = _count(3)
    pdt_window_business_days: int = _count(5, high=260)
    price_collar: UnitFraction = _share("0.10")
    max_quote_age_seconds: float = _duration(60.0)
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
    (a fraction of cost basis in (0, 1)), and everything when data is older than `stale_seconds`."""

    dte: int = _count(3, high=365)
    emergency_loss_pct: UnitFraction = _share("0.40", positive=True)
    stale_seconds: int = _count(300, low=1, high=int(MAX_DURATION_SECONDS))

    def to_config(self) -> StrategyCConfig:
        """The domain's `StrategyCConfig` for these settings."""
        return StrategyCConfig(
            dte_threshold=self.dte,
            emergency_loss_pct=self.emergency_loss_pct,
            stale_after_seconds=self.stale_seconds,
        )


STRATEGY_REFERENCE = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*")
"""`session.strategy` / `run --strategy`: `package.module:Class`."""


@attrs.frozen
class SessionSettings:
    """`[session]`: what `ordergate run` replays on the simulated broker, and the instruments
    the configuration trades.

    `symbols` are upper-case stock symbols (`risk.overrides` keys must name one of them, or an
    option on one); `bars` is how many daily bars per symbol to replay (default 500, about two
    years; 0 = all); `bars_file` a CSV of daily bars (unset = the bundled AAPL/MSFT/IBM data);
    `seed` makes the simulation repeatable; `exercise_threshold` is how far in the money (per
    share) an option must be at expiry for the simulated broker to exercise or assign it (IB's
    $0.01); `strategy` (`package.module:Class`) is the strategy `ordergate run` drives instead
    of Strategy A (docs/strategies.md).
    """

    symbols: tuple[str, ...] = attrs.field(default=("AAPL", "MSFT", "IBM"))
    bars: int = _count(500)
    bars_file: str | None = attrs.field(default=None, validator=_path)
    seed: int = _count(7, high=2**63 - 1)
    starting_cash: Decimal = attrs.field(
        default=Decimal("100000"), validator=_decimal(positive=True)
    )
    exercise_threshold: Decimal = attrs.field(default=Decimal("0.01"), validator=_decimal())
    strategy: str | None = attrs.field(
        default=None,
        validator=_text(STRATEGY_REFERENCE, "package.module:Class, e.g. mystrategies.trend:Trend"),
    )

    @symbols.validator
    def _check_symbols(self, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple) or not value:
            raise InvalidValue(attribute.name, value, "must list at least one symbol")
        if len(value) > 1000:
            raise InvalidValue(attribute.name, value, "must list at most 1000 symbols")
        for symbol in value:
            if (
                not isinstance(symbol, str)
                or len(symbol) > _MAX_SYMBOL
                or not _SYMBOL.fullmatch(symbol)
            ):
                raise InvalidValue(
                    attribute.name,
                    symbol,
                    f"each symbol must be upper-case letters and digits (at most {_MAX_SYMBOL}, "
                    "e.g. AAPL or BRK.B)",
                )
        repeated = sorted({s for s in value if value.count(s) > 1})
        if repeated:
            raise InvalidValue(attribute.name, value, f"lists {', '.join(repeated)} twice")


def _override_problems(
    overrides: Mapping[str, Any], symbols: tuple[str, ...]
) -> list[InvalidValue]:
    """An override must name an instrument the configuration trades, exactly (keys are
    case-sensitive, as instrument ids are): a session symbol, or an OCC option on one."""
    problems = []
    for key in overrides:
        option = _OPTION_ID.fullmatch(key) if isinstance(key, str) else None
        if key in symbols or (option is not None and option["underlying"].strip() in symbols):
            continue
        by_upper = {s.upper(): s for s in symbols}
        close = difflib.get_close_matches(str(key).strip().upper(), list(by_upper), n=3)
        hint = f"; did you mean {' or '.join(repr(by_upper[c]) for c in close)}?" if close else ""
        problems.append(
            InvalidValue(
                f"risk.overrides.{key}",
                key,
                f"is not an instrument this configuration trades{hint} (keys are "
                f"case-sensitive; session.symbols: {', '.join(symbols)}, or OCC options on them)",
            )
        )
    return problems


@attrs.frozen
class Settings:
    """Everything ordergate is configured with. Build it with `load_settings()`.

    `operator_id` travels on every order (IB `orderRef`, so no `:`); `account_id` is the IB
    account code, required for live trading and checked against the mode by `check_arming`.
    `secrets` is filled from the environment only (never from the file).
    """

    mode: Mode = Mode.PAPER
    operator_id: str = attrs.field(
        default="ordergate",
        validator=_text(
            _OPERATOR, "must be 1 to 32 letters, digits, '.', '_' or '-' (it prefixes IB orderRef)"
        ),
    )
    account_id: str | None = attrs.field(
        default=None, validator=_text(_ACCOUNT, "must be an IB account code (letters and digits)")
    )
    broker: BrokerSettings = attrs.field(factory=BrokerSettings)
    market_data: MarketDataSettings = attrs.field(factory=MarketDataSettings)
    audit: AuditSettings = attrs.field(factory=AuditSettings)
    publisher: PublisherSettings = attrs.field(factory=PublisherSettings)
    signals: SignalsSettings = attrs.field(factory=SignalsSettings)
    risk: RiskSettings = attrs.field(factory=RiskSettings)
    strategy_c: StrategyCSettings = attrs.field(factory=StrategyCSettings)
    session: SessionSettings = attrs.field(factory=SessionSettings)
    service: ServiceSettings = attrs.field(factory=ServiceSettings)
    alerts: AlertsSettings = attrs.field(factory=AlertsSettings)
    logging: LoggingSettings = attrs.field(factory=LoggingSettings)
    serve: ServeSettings = attrs.field(factory=ServeSettings)
    secrets: Secrets = attrs.field(factory=Secrets, repr=False, metadata={"from_file": False})

    def __attrs_post_init__(self) -> None:
        problems = _override_problems(self.risk.overrides, self.session.symbols)
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise ExceptionGroup("risk.overrides", problems)
