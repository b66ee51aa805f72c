"""Risk limits: the numbers the pre-trade rules compare against, validated at construction.

Every rule is on by default with a conservative limit; a rule is switched off by naming it in
`RiskLimits.disabled`. Quantity and notional limits can be overridden per instrument. Fractions are
fractions (0.03 is 3%), money is in the account currency, quantities in shares or contracts.
This module only holds values: it never looks at a portfolio or the clock.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from datetime import timedelta
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import InstrumentId, check_decimal

__all__ = ["InstrumentLimits", "RiskLimits", "Rule"]


class Rule(enum.StrEnum):
    """The rules of the gate that a configuration may switch off (values are config keys).

    The trading-state, breaker and over-close checks are not listed: they cannot be disabled.
    """

    ORDER_QUANTITY = "max_order_quantity"
    ORDER_NOTIONAL = "max_order_notional"
    POSITION = "max_position"
    GROSS_NOTIONAL = "max_gross_notional"
    LEVERAGE = "max_leverage"
    OPEN_ORDERS = "max_open_orders"
    SUBMIT_RATE = "max_submit_rate"
    DAILY_LOSS = "daily_loss_limit"
    DRAWDOWN = "weekly_drawdown"
    CONSECUTIVE_LOSSES = "consecutive_losses"
    PATTERN_DAY_TRADER = "pattern_day_trader"
    AFFORDABILITY = "affordability"
    PRICE_COLLAR = "price_collar"
    DUPLICATE = "duplicate_guard"
    STALENESS = "data_staleness"
    PRICE_INCREMENT = "price_increment"


def _non_negative_decimal(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    check_decimal(f"{type(inst).__name__}.{attribute.name}", value, non_negative=True)


def _optional_non_negative_decimal(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _non_negative_decimal(inst, attribute, value)


def _count(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidValue(name, value, "must be an int")
    if value < 0:
        raise InvalidValue(name, value, "must be >= 0")


def _positive_duration(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    name = f"{type(inst).__name__}.{attribute.name}"
    if not isinstance(value, timedelta):
        raise InvalidValue(name, value, "must be a datetime.timedelta")
    if value <= timedelta(0):
        raise InvalidValue(name, value, "must be > 0")


def _limit(default: str | int) -> Any:
    return attrs.field(default=Decimal(default), validator=_non_negative_decimal)


def _opt_limit() -> Any:
    return attrs.field(default=None, validator=_optional_non_negative_decimal)


def _to_rules(value: Iterable[Rule | str]) -> frozenset[Rule]:
    rules: set[Rule] = set()
    for item in value:
        try:
            rules.add(Rule(item))
        except ValueError:
            known = ", ".join(r.value for r in Rule)
            raise InvalidValue("RiskLimits.disabled", item, f"must name a rule ({known})") from None
    return frozenset(rules)


@attrs.frozen
class InstrumentLimits:
    """Overrides for one instrument; a `None` field falls back to the `RiskLimits` default."""

    max_order_quantity: Decimal | None = _opt_limit()
    max_order_notional: Decimal | None = _opt_limit()
    max_position: Decimal | None = _opt_limit()


def _to_overrides(value: Mapping[Any, InstrumentLimits]) -> Mapping[InstrumentId, InstrumentLimits]:
    table: dict[InstrumentId, InstrumentLimits] = {}
    for key, limits in value.items():
        iid = key if isinstance(key, InstrumentId) else InstrumentId(str(key))
        if not isinstance(limits, InstrumentLimits):
            raise InvalidValue(f"RiskLimits.overrides[{iid}]", limits, "must be InstrumentLimits")
        table[iid] = limits
    return MappingProxyType(table)


@attrs.frozen
class RiskLimits:
    """The gate's limits. All rules are on; list a `Rule` in `disabled` to switch one off.

    Defaults (a small cash/margin account; tune them to yours):
    - per order: at most 1,000 shares/contracts and 50,000 notional;
    - per instrument: worst-case position (every working order filled) at most 2,000;
    - gross worst-case notional at most 250,000 and leverage (gross / equity) at most 2;
    - at most 50 working orders and 40 submissions per second (IB allows 50 messages/s);
    - new risk stops once the session loses 3% of its start equity, the week's drawdown from its
      high reaches 6%, or 5 losing trades come in a row;
    - pattern-day-trader: under 25,000 equity at most 3 day trades in 5 business days;
    - a limit/stop price more than 10% from the quote is a fat finger;
    - no new risk on a quote older than 60 s.
    """

    max_order_quantity: Decimal = _limit(1_000)
    max_order_notional: Decimal = _limit(50_000)
    max_position: Decimal = _limit(2_000)
    max_gross_notional: Decimal = _limit(250_000)
    max_leverage: Decimal = _limit(2)
    max_open_orders: int = attrs.field(default=50, validator=_count)
    max_submit_rate: int = attrs.field(default=40, validator=_count)
    submit_rate_window: timedelta = attrs.field(
        default=timedelta(seconds=1), validator=_positive_duration
    )
    daily_loss_limit: Decimal = _limit("0.03")
    max_weekly_drawdown: Decimal = _limit("0.06")
    max_consecutive_losses: int = attrs.field(default=5, validator=_count)
    pdt_equity_threshold: Decimal = _limit(25_000)
    pdt_max_day_trades: int = attrs.field(default=3, validator=_count)
    pdt_window_business_days: int = attrs.field(default=5, validator=_count)
    price_collar: Decimal = _limit("0.10")
    max_quote_age: timedelta = attrs.field(
        default=timedelta(seconds=60), validator=_positive_duration
    )
    overrides: Mapping[InstrumentId, InstrumentLimits] = attrs.field(
        factory=dict, converter=_to_overrides, hash=False
    )
    disabled: frozenset[Rule] = attrs.field(factory=frozenset, converter=_to_rules)

    def enabled(self, rule: Rule) -> bool:
        """True unless `rule` is listed in `disabled`."""
        return rule not in self.disabled

    def without(self, *rules: Rule | str) -> RiskLimits:
        """A copy with `rules` switched off as well."""
        return attrs.evolve(self, disabled=self.disabled | _to_rules(rules))

    def order_quantity_limit(self, instrument_id: InstrumentId) -> Decimal:
        """Max quantity of one order in `instrument_id` (its override, else the default)."""
        override = self.overrides.get(instrument_id)
        if override is not None and override.max_order_quantity is not None:
            return override.max_order_quantity
        return self.max_order_quantity

    def order_notional_limit(self, instrument_id: InstrumentId) -> Decimal:
        """Max notional of one order in `instrument_id` (its override, else the default)."""
        override = self.overrides.get(instrument_id)
        if override is not None and override.max_order_notional is not None:
            return override.max_order_notional
        return self.max_order_notional

    def position_limit(self, instrument_id: InstrumentId) -> Decimal:
        """Max absolute worst-case position in `instrument_id` (its override, else the default)."""
        override = self.overrides.get(instrument_id)
        if override is not None and override.max_position is not None:
            return override.max_position
        return self.max_position
