"""The contracts a `SimGatewayEngine` trades: the session's stocks and the options it has listed,
with stable conIds, and the on-demand listing of options a client asks for by full description.

A fully specified option query (a traded underlying, an expiry on or after today, a strike and a
right) lists that contract in the simulation exactly as the session's `pick_call` lists one
(`SimSession.list_option`: tradable, quoted, re-priced with its underlying), so a client can
qualify and trade any call or put the simulator can price. Partial queries only see what is
listed. ConIds: stocks of the emulator's catalogue keep their IB conIds, other stocks and every
option get an id derived from their symbol, so the same contract has the same id on every run.
Must never import `ib_async`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

from ordergate.adapters.gateway_sim.catalogue import DEFAULT_LISTINGS, option_con_id
from ordergate.adapters.gateway_sim.engine_types import ContractQuery, ContractSpec, SecType
from ordergate.adapters.sim.session import SimSession
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import NEW_YORK, Instrument, OptionContract, Stock
from ordergate.domain.values import InstrumentId
from ordergate.ports.broker import BrokerEvent

__all__ = ["SimContracts", "stock_con_id"]

_STOCK_ID_BASE = 100_000_000
_STOCK_ID_SPAN = 400_000_000
_STANDARD_MULTIPLIER = Decimal(100)
_KNOWN_STOCKS = {listing.symbol: listing for listing in DEFAULT_LISTINGS}


def stock_con_id(symbol: str) -> int:
    """IB's conId for the catalogue's stocks, else an id derived from the symbol."""
    listing = _KNOWN_STOCKS.get(symbol)
    if listing is not None:
        return listing.con_id
    return _STOCK_ID_BASE + zlib.crc32(symbol.encode()) % _STOCK_ID_SPAN


class SimContracts:
    """ContractSpecs of one `SimSession`, by conId and by instrument id."""

    def __init__(self, session: SimSession) -> None:
        self._session = session
        self._by_con_id: dict[int, ContractSpec] = {}
        self._by_instrument: dict[InstrumentId, ContractSpec] = {}
        for stock in session.stocks:
            self.spec_for(stock)

    def get(self, con_id: int) -> ContractSpec | None:
        """The contract with `con_id`, or None."""
        return self._by_con_id.get(con_id)

    def spec_for(self, instrument: Instrument) -> ContractSpec:
        """The contract of an instrument the simulation trades (registered on first sight)."""
        known = self._by_instrument.get(instrument.id)
        if known is not None:
            return known
        if isinstance(instrument, OptionContract):
            con_id = option_con_id(instrument)
            under = stock_con_id(instrument.underlying)
            name = self._long_name(instrument.underlying)
        else:
            con_id, under, name = stock_con_id(instrument.symbol), 0, self._long_name(
                instrument.symbol
            )
        while con_id in self._by_con_id:  # a hash collision: the next free id, still stable
            con_id += 1
        spec = ContractSpec(con_id, instrument, name, under_con_id=under)
        self._by_con_id[con_id] = spec
        self._by_instrument[instrument.id] = spec
        return spec

    def qualify(
        self, query: ContractQuery, now: datetime
    ) -> tuple[list[ContractSpec], list[BrokerEvent]]:
        """Every contract matching `query` (stocks first, options by expiry, strike, right),
        after listing the option a fully specified query names; plus the events that listing
        caused in the simulation (none for a contract nobody trades yet)."""
        events: list[BrokerEvent] = []
        wanted = self._wanted_option(query, now)
        if wanted is not None:
            events = self._list(wanted)
        self._adopt_listed()
        if query.con_id:
            spec = self._by_con_id.get(query.con_id)
            return ([spec] if spec is not None and query.matches(spec) else []), events
        found = [s for s in self._by_con_id.values() if query.matches(s)]
        return sorted(found, key=_listing_order), events

    def __iter__(self) -> Iterator[ContractSpec]:
        return iter(list(self._by_con_id.values()))

    # -- internals -------------------------------------------------------------------------------
    def _long_name(self, symbol: str) -> str:
        listing = _KNOWN_STOCKS.get(symbol)
        return listing.long_name if listing is not None else symbol

    def _traded(self) -> Sequence[Stock]:
        return self._session.stocks

    def _wanted_option(self, query: ContractQuery, now: datetime) -> OptionContract | None:
        """The option a fully specified query names, if the simulation could list it."""
        if query.con_id or query.sec_type is not SecType.OPTION:
            return None
        if query.expiry is None or query.strike is None or query.right is None:
            return None
        symbol = query.symbol.upper()
        if symbol not in {s.symbol for s in self._traded()}:
            return None
        if query.multiplier is not None and query.multiplier != _STANDARD_MULTIPLIER:
            return None
        if query.expiry < _today(now) or query.strike <= 0:
            return None
        try:
            contract = OptionContract(symbol, query.expiry, query.strike, query.right)
        except InvalidValue:
            return None
        # Exchange, currency and the like must fit too (a spec is what the query must match).
        probe = ContractSpec(option_con_id(contract), contract)
        return contract if query.matches(probe) else None

    def _list(self, contract: OptionContract) -> list[BrokerEvent]:
        engine = self._session.engine
        known = engine.instrument(contract.id)
        if isinstance(known, OptionContract):
            self.spec_for(known)  # listed already (by `pick_call` or an earlier query)
            return []
        try:
            events = self._session.list_option(contract)
        except InvalidValue:
            return []  # the underlying has not traded yet: nothing to price the option from
        self.spec_for(contract)
        return events

    def _adopt_listed(self) -> None:
        """Register options listed in the session by anyone (e.g. `pick_call` in process)."""
        for stock in self._traded():
            for option in self._session.options.watched(stock.symbol):
                if option.id not in self._by_instrument:
                    self.spec_for(option)


def _today(now: datetime) -> date:
    return now.astimezone(NEW_YORK).date()


def _listing_order(spec: ContractSpec) -> tuple[str, int, date, Decimal, str]:
    inst = spec.instrument
    if isinstance(inst, OptionContract):
        return (inst.underlying, 1, inst.expiry, inst.strike, inst.right.value)
    return (inst.symbol, 0, date.min, Decimal(0), "")
