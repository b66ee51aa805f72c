"""Contract details as IB gives them, through the unmodified ib_async client: ISINs in
secIdList, a primary exchange for options too, and 321 for a contract without an exchange."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import TypeVar

import pytest
from ib_async import IB, Option, Stock

from ordergate.adapters.gateway_sim import GatewayServer, InstantEngine
from ordergate.adapters.gateway_sim.catalogue import isin

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float = 5.0) -> T:
    return await asyncio.wait_for(awaitable, seconds)


@pytest.fixture
async def ib() -> AsyncIterator[IB]:
    async with GatewayServer(InstantEngine(accounts=("DU1234567",))) as server:
        client = IB()
        await client.connectAsync("127.0.0.1", server.port, clientId=1, timeout=5)
        client.RequestTimeout = 0
        try:
            yield client
        finally:
            client.disconnect()


@pytest.mark.parametrize(("symbol", "expected"), [
    ("AAPL", "US0378331005"), ("MSFT", "US5949181045"), ("IBM", "US4592001014"),
])
async def test_stock_details_carry_the_real_isin(ib: IB, symbol: str, expected: str) -> None:
    [details] = await within(ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD")))
    assert [(t.tag, t.value) for t in details.secIdList] == [("ISIN", expected)]
    assert details.contract.primaryExchange in {"NASDAQ", "NYSE"}


async def test_option_details_name_a_primary_exchange(ib: IB) -> None:
    [aapl] = await within(ib.qualifyContractsAsync(Stock("AAPL", "SMART", "USD")))
    chains = await within(ib.reqSecDefOptParamsAsync("AAPL", "", "STK", aapl.conId))
    expiry, strike = sorted(chains[0].expirations)[0], sorted(chains[0].strikes)[0]
    found = await within(ib.reqContractDetailsAsync(Option("AAPL", expiry, strike, "C", "SMART")))
    assert [d.contract.primaryExchange for d in found] == ["CBOE"]
    assert found[0].underConId == aapl.conId


async def test_a_stock_without_an_exchange_gets_321(ib: IB) -> None:
    errors: list[tuple[int, str]] = []
    ib.errorEvent += lambda req_id, code, text, contract: errors.append((code, text))
    assert await within(ib.reqContractDetailsAsync(Stock("XXX"))) == []
    assert await within(ib.reqContractDetailsAsync(Stock("AAPL"))) == []
    assert [code for code, _ in errors] == [321, 321]
    assert "Please enter exchange" in errors[0][1]
    assert "'XXX'" in errors[0][1]


def _luhn_valid(number: str) -> bool:
    """The Luhn test of a whole number (check digit included), by the doubled-digit table."""
    doubled = [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]
    digits = [int(d) for d in reversed(number)]
    return (sum(digits[0::2]) + sum(doubled[d] for d in digits[1::2])) % 10 == 0


@pytest.mark.parametrize("symbol", ["AMZN", "TSLA", "ZZZZ", "BRK.B", "A"])
def test_synthetic_isins_are_deterministic_and_pass_the_isin_check(symbol: str) -> None:
    code = isin(symbol)
    assert code == isin(symbol)
    assert len(code) == 12
    assert code.startswith("US")
    assert code.isalnum()
    assert _luhn_valid("".join(str(int(c, 36)) for c in code))


def test_the_real_isins_pass_the_same_check() -> None:
    for code in ("US0378331005", "US5949181045", "US4592001014"):
        assert _luhn_valid("".join(str(int(c, 36)) for c in code))
