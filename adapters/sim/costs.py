"""The simulator's fill model settings and IB-style commission schedules.

Commissions are charged per order: an order's commission after each execution is the schedule's
`order_total` of everything it has filled so far (so the minimum is charged once, on the first
execution, and the maximum caps the whole order); each `CommissionReport` carries the increase.
The per-share tier is chosen by the account's shares traded this calendar month *before* the
order, as IB's tiered pricing does. Nothing here performs I/O or reads the time.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.values import decimal_field, opt_decimal_field

__all__ = [
    "IB_TIERED_STOCK",
    "CommissionSchedule",
    "FillModel",
    "PerContractCommission",
    "PerShareCommission",
]

_CENT_HUNDREDTHS = Decimal("0.0001")


class CommissionSchedule(Protocol):
    """Computes an order's total commission from what it has filled so far."""

    def order_total(self, quantity: Decimal, value: Decimal, month_volume: Decimal) -> Decimal:
        """Commission for `quantity` units worth `value` filled by one order, given the account
        already traded `month_volume` units this month before the order."""
        ...


def _tiers_ok(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    tiers = value if isinstance(value, tuple) else ()
    if not tiers or tiers[-1][0] is not None:
        raise InvalidValue("PerShareCommission.tiers", value, "the last tier must be open (None)")


# IB Pro "tiered" US stock pricing (monthly shares → USD per share), exchange fees not included.
IB_TIERED_STOCK: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal(300_000), Decimal("0.0035")),
    (Decimal(3_000_000), Decimal("0.002")),
    (Decimal(20_000_000), Decimal("0.0015")),
    (Decimal(100_000_000), Decimal("0.001")),
    (None, Decimal("0.0005")),
)


@attrs.frozen
class PerShareCommission:
    """Per-share rate by monthly-volume tier, with a per-order minimum and a maximum that is a
    fraction of the order's traded value (IB tiered: 0.0035/share, min 0.35, max 1%)."""

    tiers: tuple[tuple[Decimal | None, Decimal], ...] = attrs.field(
        default=IB_TIERED_STOCK, validator=_tiers_ok
    )
    minimum: Decimal = decimal_field(non_negative=True, default=Decimal("0.35"))
    maximum_fraction: Decimal | None = opt_decimal_field(positive=True, default=Decimal("0.01"))

    def rate(self, month_volume: Decimal) -> Decimal:
        """The per-share rate for an order placed after `month_volume` shares this month."""
        for limit, per_share in self.tiers:
            if limit is None or month_volume < limit:
                return per_share
        return self.tiers[-1][1]

    def order_total(self, quantity: Decimal, value: Decimal, month_volume: Decimal) -> Decimal:
        """See `CommissionSchedule.order_total`."""
        if quantity <= 0:
            return Decimal(0)
        total = max(quantity * self.rate(month_volume), self.minimum)
        if self.maximum_fraction is not None:
            total = min(total, value * self.maximum_fraction)
        return total.quantize(_CENT_HUNDREDTHS, rounding=ROUND_HALF_UP)


@attrs.frozen
class PerContractCommission:
    """Options: a rate per contract with a per-order minimum (IB: 0.65 per contract, min 1.00)."""

    per_contract: Decimal = decimal_field(non_negative=True, default=Decimal("0.65"))
    minimum: Decimal = decimal_field(non_negative=True, default=Decimal("1.00"))

    def order_total(self, quantity: Decimal, value: Decimal, month_volume: Decimal) -> Decimal:
        """See `CommissionSchedule.order_total`."""
        if quantity <= 0:
            return Decimal(0)
        total = max(quantity * self.per_contract, self.minimum)
        return total.quantize(_CENT_HUNDREDTHS, rounding=ROUND_HALF_UP)


def _non_negative_delta(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise InvalidValue(f"FillModel.{attribute.name}", value, "must be a timedelta >= 0")


def _non_negative_int(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidValue(f"FillModel.{attribute.name}", value, "must be an int >= 0")


def _participation(inst: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, Decimal) or not 0 < value <= 1):
        raise InvalidValue("FillModel.participation", value, "must be None or a Decimal in (0, 1]")


@attrs.frozen
class FillModel:
    """How the simulated market treats orders (see `docs/sim.md` for the whole model).

    - `latency` (+ a seeded uniform draw in `[0, latency_jitter]`): time from a request to the
      broker acting on it (acceptance, modification, cancellation).
    - `slippage_ticks` (+ a seeded draw in `[0, slippage_jitter_ticks]`): adverse ticks on market
      and stop fills, clamped to the bar's range; limit prices are never worsened.
    - `participation`: the fraction of each bar's volume the account may take, per instrument
      and bar (None: no cap); fills beyond it are partial and continue on later bars.
    - `leverage`: buying power as a multiple of the account's free equity (1: a cash account).
    """

    latency: timedelta = attrs.field(default=timedelta(0), validator=_non_negative_delta)
    latency_jitter: timedelta = attrs.field(default=timedelta(0), validator=_non_negative_delta)
    slippage_ticks: int = attrs.field(default=0, validator=_non_negative_int)
    slippage_jitter_ticks: int = attrs.field(default=0, validator=_non_negative_int)
    participation: Decimal | None = attrs.field(default=None, validator=_participation)
    stock_commission: CommissionSchedule = attrs.field(factory=PerShareCommission)
    option_commission: CommissionSchedule = attrs.field(factory=PerContractCommission)
    leverage: Decimal = decimal_field(positive=True, default=Decimal(1))
