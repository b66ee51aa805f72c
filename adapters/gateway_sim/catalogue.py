"""A small contract catalogue for the emulator: a few US stocks and their listed monthly options.

Any engine may use it to answer `qualify`; `InstantEngine` does. Contract ids are stable: stocks
carry their real IB conIds, options an id derived from their OCC symbol, so the same option has the
same conId on every run. It holds no prices that change and must never import `ib_async`.
"""

from __future__ import annotations

import calendar
import zlib
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal

import attrs

from ordergate.adapters.gateway_sim.engine_types import ContractQuery, ContractSpec
from ordergate.domain.instruments import OptionContract, OptionRight, Stock

__all__ = [
    "DEFAULT_LISTINGS",
    "OPTION_PRIMARY_EXCHANGE",
    "REAL_ISINS",
    "Catalogue",
    "Listing",
    "isin",
    "isin_check_digit",
    "third_fridays",
]

REAL_ISINS = {
    "AAPL": "US0378331005",
    "MSFT": "US5949181045",
    "IBM": "US4592001014",
    "SPY": "US78462F1030",
    "QQQ": "US46090E1038",
    "F": "US3453708600",
}
"""The real ISINs of the bundled listings."""

OPTION_PRIMARY_EXCHANGE = "CBOE"
"""The primary exchange contract details give US equity options."""

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _char_value(char: str) -> int:
    return _ALNUM.index(char)


def _cusip_check_digit(base: str) -> str:
    total = 0
    for index, char in enumerate(base):
        value = _char_value(char) * (2 if index % 2 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def isin_check_digit(body: str) -> str:
    """The ISIN check digit of an 11-character `body` (letters as 10..35, then Luhn)."""
    digits = "".join(str(_char_value(char)) for char in body)
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value // 10 + value % 10
    return str((10 - total % 10) % 10)


def isin(symbol: str) -> str:
    """The ISIN of a US stock: the real one for the bundled listings, otherwise a deterministic
    synthetic one (a CUSIP-shaped body derived from the symbol, both check digits valid)."""
    real = REAL_ISINS.get(symbol.upper())
    if real is not None:
        return real
    seed = zlib.crc32(symbol.upper().encode())
    base = "9"  # CUSIP issuers starting with 9 are not assigned to listed US companies
    for _ in range(7):
        seed, digit = divmod(seed * 31 + 7, len(_ALNUM))
        base += _ALNUM[digit]
        seed = seed or zlib.crc32(base.encode())
    nsin = base + _cusip_check_digit(base)
    return "US" + nsin + isin_check_digit("US" + nsin)


@attrs.frozen
class Listing:
    """A stock to list: its symbol, name, primary exchange, IB conId and a reference price."""

    symbol: str
    long_name: str
    primary_exchange: str
    con_id: int
    reference_price: Decimal
    optionable: bool = True


DEFAULT_LISTINGS: tuple[Listing, ...] = (
    Listing("AAPL", "APPLE INC", "NASDAQ", 265598, Decimal("190.00")),
    Listing("MSFT", "MICROSOFT CORP", "NASDAQ", 272093, Decimal("410.00")),
    Listing("SPY", "SPDR S&P 500 ETF TRUST", "ARCA", 756733, Decimal("520.00")),
    Listing("QQQ", "INVESCO QQQ TRUST SERIES 1", "NASDAQ", 320227571, Decimal("440.00")),
    Listing("IBM", "INTL BUSINESS MACHINES CORP", "NYSE", 8314, Decimal("180.00")),
    Listing("F", "FORD MOTOR CO", "NYSE", 9599491, Decimal("12.00"), optionable=False),
)
"""The stocks `Catalogue.standard` lists unless told otherwise."""

_OPTION_ID_BASE = 500_000_000
_OPTION_ID_SPAN = 400_000_000


def third_fridays(after: date, count: int) -> list[date]:
    """The standard monthly expiries (third Friday) strictly after `after`, `count` of them."""
    found: list[date] = []
    year, month = after.year, after.month
    while len(found) < count:
        weeks = calendar.monthcalendar(year, month)
        fridays = [week[calendar.FRIDAY] for week in weeks if week[calendar.FRIDAY]]
        candidate = date(year, month, fridays[2])
        if candidate > after:
            found.append(candidate)
        month += 1
        if month > 12:
            year, month = year + 1, 1
    return found


def _strike_step(price: Decimal) -> Decimal:
    if price < 25:
        return Decimal("0.5")
    if price < 200:
        return Decimal(5)
    return Decimal(10)


def option_con_id(option: OptionContract) -> int:
    """A conId derived from the OCC symbol: the same option gets the same id on every run."""
    return _OPTION_ID_BASE + zlib.crc32(option.symbol.encode()) % _OPTION_ID_SPAN


class Catalogue:
    """An immutable set of contracts, looked up by conId or matched against a query."""

    def __init__(self, specs: Iterable[ContractSpec], reference_prices: dict[int, Decimal]) -> None:
        self._by_id: dict[int, ContractSpec] = {}
        for spec in specs:
            if spec.con_id in self._by_id:
                raise ValueError(f"conId {spec.con_id} is listed twice in the catalogue")
            self._by_id[spec.con_id] = spec
        self._reference = dict(reference_prices)

    @classmethod
    def standard(
        cls,
        today: date,
        listings: Iterable[Listing] = DEFAULT_LISTINGS,
        expiries: int = 3,
        strikes_each_side: int = 5,
    ) -> Catalogue:
        """Stocks from `listings` plus, for optionable ones, calls and puts on the next
        `expiries` monthly expiries at `strikes_each_side` strikes either side of the money."""
        specs: list[ContractSpec] = []
        prices: dict[int, Decimal] = {}
        for listing in listings:
            stock = Stock(listing.symbol, primary_exchange=listing.primary_exchange)
            specs.append(ContractSpec(listing.con_id, stock, listing.long_name))
            prices[listing.con_id] = listing.reference_price
            if not listing.optionable:
                continue
            step = _strike_step(listing.reference_price)
            atm = (listing.reference_price / step).to_integral_value() * step
            strikes = [atm + step * k for k in range(-strikes_each_side, strikes_each_side + 1)]
            for expiry in third_fridays(today, expiries):
                for strike in strikes:
                    for right in (OptionRight.CALL, OptionRight.PUT):
                        option = OptionContract(listing.symbol, expiry, strike, right)
                        specs.append(
                            ContractSpec(
                                option_con_id(option),
                                option,
                                listing.long_name,
                                under_con_id=listing.con_id,
                            )
                        )
        return cls(specs, prices)

    def __iter__(self) -> Iterator[ContractSpec]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, con_id: int) -> ContractSpec | None:
        """The contract with `con_id`, or None."""
        return self._by_id.get(con_id)

    def find(self, query: ContractQuery) -> list[ContractSpec]:
        """Every contract matching `query`, stocks first, options by expiry, strike, right."""
        return sorted((s for s in self._by_id.values() if query.matches(s)), key=_listing_order)

    def reference_price(self, con_id: int) -> Decimal | None:
        """The listing price of a stock (None for options: they are priced from the stock)."""
        return self._reference.get(con_id)


def _listing_order(spec: ContractSpec) -> tuple[str, int, date, Decimal, str]:
    inst = spec.instrument
    if isinstance(inst, OptionContract):
        return (inst.underlying, 1, inst.expiry, inst.strike, inst.right.value)
    return (inst.symbol, 0, date.min, Decimal(0), "")
