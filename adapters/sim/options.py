"""Options in the simulation: Black–Scholes prices from the underlying, a volatility and the time
to the option's last-trade instant, an option chain on any underlying, and an `OptionMarket` that
re-prices watched contracts on the simulated broker as the underlying moves.

Time to expiry is measured to the contract's `last_trade_at` (exchange time zone), in years of
365 days; at or after it the price is the intrinsic value. Prices are rounded to the contract's
tick and never below one tick (a listed option always has a positive quote). Floats are used
inside the formula only; what leaves this module is Decimal.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import (
    OptionContract,
    OptionRight,
    Stock,
    quantize_price,
)
from ordergate.domain.values import InstrumentId, decimal_field

__all__ = ["OptionChain", "OptionMarket", "black_scholes", "fridays_after"]

_SECONDS_PER_YEAR = 365 * 24 * 3600
_FRIDAY = 4


def _cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def black_scholes(
    right: OptionRight, spot: float, strike: float, years: float, vol: float, *, rate: float = 0.0
) -> float:
    """The Black–Scholes value of a European option (no dividends); intrinsic when `years` or
    `vol` is zero or negative."""
    if years <= 0 or vol <= 0:
        intrinsic = spot - strike if right is OptionRight.CALL else strike - spot
        return max(intrinsic, 0.0)
    root = vol * math.sqrt(years)
    d1 = (math.log(spot / strike) + (rate + 0.5 * vol * vol) * years) / root
    d2 = d1 - root
    discount = math.exp(-rate * years)
    if right is OptionRight.CALL:
        return spot * _cdf(d1) - strike * discount * _cdf(d2)
    return strike * discount * _cdf(-d2) - spot * _cdf(-d1)


def fridays_after(day: date, count: int) -> list[date]:
    """The next `count` Fridays strictly after `day` (weekly expiries)."""
    first = day + timedelta(days=(_FRIDAY - day.weekday()) % 7 or 7)
    return [first + timedelta(weeks=i) for i in range(count)]


@attrs.frozen
class OptionChain:
    """Calls and puts on `underlying` for `expiries` × `strikes`, priced with one volatility."""

    underlying: Stock
    expiries: tuple[date, ...]
    strikes: tuple[Decimal, ...]
    volatility: Decimal = decimal_field(positive=True)
    rate: Decimal = decimal_field(default=Decimal(0))

    @classmethod
    def around(
        cls,
        underlying: Stock,
        spot: Decimal,
        today: date,
        *,
        volatility: Decimal,
        weeks: int = 6,
        strike_step: Decimal = Decimal(5),
        strikes_each_side: int = 5,
    ) -> OptionChain:
        """A chain of weekly expiries and strikes centred on `spot`."""
        centre = (spot / strike_step).to_integral_value() * strike_step
        strikes = tuple(
            centre + strike_step * i
            for i in range(-strikes_each_side, strikes_each_side + 1)
            if centre + strike_step * i > 0
        )
        return cls(underlying, tuple(fridays_after(today, weeks)), strikes, volatility)

    def contract(self, expiry: date, strike: Decimal, right: OptionRight) -> OptionContract:
        """One listed contract; `InvalidValue` if it is not in the chain."""
        if expiry not in self.expiries or strike not in self.strikes:
            raise InvalidValue("OptionChain.contract", (expiry, strike), "is not listed")
        return OptionContract(self.underlying.symbol, expiry, strike, right)

    def contracts(self) -> list[OptionContract]:
        """Every listed contract (expiry, then strike, calls before puts)."""
        return [
            OptionContract(self.underlying.symbol, expiry, strike, right)
            for expiry in self.expiries
            for strike in self.strikes
            for right in (OptionRight.CALL, OptionRight.PUT)
        ]

    def price(self, contract: OptionContract, spot: Decimal, now: datetime) -> Decimal:
        """The contract's price at `now` with the underlying at `spot`, on the tick (≥ 1 tick)."""
        years = (contract.last_trade_at - now).total_seconds() / _SECONDS_PER_YEAR
        value = black_scholes(
            contract.right,
            float(spot),
            float(contract.strike),
            years,
            float(self.volatility),
            rate=float(self.rate),
        )
        price = quantize_price(Decimal(repr(value)), contract.tick_size)
        return max(price, contract.tick_size)


class OptionMarket:
    """Keeps watched option contracts priced on a simulated broker as the underlying moves.

    After each underlying price the `Replay` asks for `repriced(...)` and ticks every watched
    contract on that underlying at its Black–Scholes price.
    """

    def __init__(self, chains: Iterable[OptionChain]) -> None:
        self._chains: dict[str, OptionChain] = {c.underlying.symbol: c for c in chains}
        self._watched: dict[str, list[OptionContract]] = {}

    def chain(self, underlying: str) -> OptionChain | None:
        """The option chain of `underlying`, if there is one."""
        return self._chains.get(underlying)

    def watch(self, contract: OptionContract) -> None:
        """Re-price `contract` on every move of its underlying."""
        if contract.underlying not in self._chains:
            raise InvalidValue("OptionMarket.watch", contract.underlying, "has no option chain")
        watched = self._watched.setdefault(contract.underlying, [])
        if contract not in watched:
            watched.append(contract)

    def watched(self, underlying: str) -> Sequence[OptionContract]:
        """The contracts on `underlying` re-priced as it moves."""
        return self._watched.get(underlying, ())

    def price(self, contract: OptionContract, spot: Decimal, now: datetime) -> Decimal:
        """Price any contract of a known chain (listed or not)."""
        chain = self._chains.get(contract.underlying)
        if chain is None:
            raise InvalidValue("OptionMarket.price", contract.underlying, "has no option chain")
        return chain.price(contract, spot, now)

    def repriced(
        self, underlying: InstrumentId, spot: Decimal, now: datetime
    ) -> list[tuple[OptionContract, Decimal]]:
        """The new price of every watched, unexpired contract on `underlying` at `spot`."""
        return [
            (contract, self.price(contract, spot, now))
            for contract in self._watched.get(str(underlying), ())
            if not contract.is_expired(now)
        ]
