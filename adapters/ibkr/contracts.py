"""Contract qualification with a cache: the alpha learning "contracts qualified before any
order" lives here. Every instrument is resolved with IB (reqContractDetails) once per connection
before it is used for an order, a quote or bars; an unknown or ambiguous one raises
`BrokerRejected` and nothing else is sent. It must never hand out an unqualified contract.
"""

from __future__ import annotations

from ib_async import Contract
from ib_async.wrapper import RequestError

from ordergate.adapters.ibkr import parsing
from ordergate.adapters.ibkr.connection import IbkrConnection
from ordergate.domain.errors import BrokerRejected
from ordergate.domain.instruments import Instrument
from ordergate.domain.values import InstrumentId

__all__ = ["ContractBook"]


class ContractBook:
    """Qualified contracts by instrument id and by IB conId."""

    def __init__(self, connection: IbkrConnection) -> None:
        self._connection = connection
        self._contracts: dict[InstrumentId, tuple[Contract, Instrument]] = {}
        self._by_con_id: dict[int, Instrument] = {}

    async def qualify(
        self, instrument: Instrument, *, timeout: float
    ) -> tuple[Contract, Instrument]:
        """The qualified IB contract of `instrument` and the instrument with IB's tick size;
        `BrokerRejected` (code 200) when IB has no single contract for it."""
        found = self._contracts.get(instrument.id)
        if found is not None:
            return found
        return await self._connection.request(
            f"qualify:{instrument.id}",
            lambda: self._details(instrument),
            timeout,
            f"qualify {instrument.id}",
        )

    def instrument_for(self, contract: Contract) -> Instrument:
        """The domain instrument of a contract IB reported (the qualified one when known)."""
        known = self._by_con_id.get(contract.conId)
        return known if known is not None else parsing.instrument_from_contract(contract)

    def known(self, instrument_id: InstrumentId) -> tuple[Contract, Instrument] | None:
        """The cached qualification of `instrument_id`, if any."""
        return self._contracts.get(instrument_id)

    async def _details(self, instrument: Instrument) -> tuple[Contract, Instrument]:
        found = self._contracts.get(instrument.id)
        if found is not None:
            return found
        query = parsing.contract_for(instrument)
        try:
            details = await self._connection.ib.reqContractDetailsAsync(query)
        except RequestError as exc:
            raise BrokerRejected(
                f"IB does not know {instrument.id}: {exc.message}", exc.code
            ) from None
        if len(details) != 1 or details[0].contract is None:
            what = "no contract" if not details else f"{len(details)} contracts"
            raise BrokerRejected(f"IB has {what} for {instrument.id}; cannot qualify it", 200)
        contract = details[0].contract
        if instrument.exchange == "SMART":
            contract.exchange = "SMART"
        qualified = parsing.instrument_from_contract(
            contract, instrument, min_tick=details[0].minTick
        )
        self._contracts[instrument.id] = (contract, qualified)
        self._by_con_id[contract.conId] = qualified
        return contract, qualified
