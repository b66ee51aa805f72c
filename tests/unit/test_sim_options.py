"""Black–Scholes pricing and option chains of the simulation."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ordergate.adapters.sim.options import OptionChain, OptionMarket, black_scholes, fridays_after
from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, OptionRight, Stock

CALL, PUT = OptionRight.CALL, OptionRight.PUT
AAPL = Stock("AAPL")


def test_black_scholes_matches_the_textbook_values() -> None:
    # Hull's classic: S = K = 100, T = 1, σ = 20%, r = 5%: call 10.4506, put 5.5735.
    assert math.isclose(10.4506, black_scholes(CALL, 100, 100, 1, 0.2, rate=0.05), abs_tol=1e-4)
    assert math.isclose(5.5735, black_scholes(PUT, 100, 100, 1, 0.2, rate=0.05), abs_tol=1e-4)


def test_black_scholes_satisfies_put_call_parity() -> None:
    spot, strike, years, rate = 123.0, 130.0, 0.37, 0.03
    call = black_scholes(CALL, spot, strike, years, 0.45, rate=rate)
    put = black_scholes(PUT, spot, strike, years, 0.45, rate=rate)
    assert math.isclose(call - put, spot - strike * math.exp(-rate * years), abs_tol=1e-9)


def test_black_scholes_is_intrinsic_at_expiry() -> None:
    assert 5.0 == black_scholes(CALL, 105, 100, 0, 0.3)
    assert 0.0 == black_scholes(PUT, 105, 100, 0, 0.3)


def test_chain_price_decays_as_the_clock_approaches_the_last_trade() -> None:
    chain = OptionChain(AAPL, (date(2024, 1, 19),), (Decimal(100),), Decimal("0.3"))
    contract = chain.contract(date(2024, 1, 19), Decimal(100), CALL)
    monday = datetime(2024, 1, 8, 21, 0, tzinfo=UTC)
    prices = [chain.price(contract, Decimal(100), monday + timedelta(days=d)) for d in range(5)]
    assert prices == sorted(prices, reverse=True)
    assert len(set(prices)) == 5


def test_price_is_on_the_tick_and_never_below_one_tick() -> None:
    chain = OptionChain(AAPL, (date(2024, 1, 19),), (Decimal(100),), Decimal("0.3"))
    contract = chain.contract(date(2024, 1, 19), Decimal(100), CALL)
    worthless = chain.price(contract, Decimal(50), datetime(2024, 1, 18, 15, tzinfo=UTC))
    assert Decimal("0.01") == worthless
    after = chain.price(contract, Decimal("104.567"), datetime(2024, 1, 19, 22, tzinfo=UTC))
    assert Decimal("4.57") == after


def test_last_trade_time_is_in_new_york_not_utc_midnight() -> None:
    chain = OptionChain(AAPL, (date(2024, 1, 19),), (Decimal(100),), Decimal("0.3"))
    contract = chain.contract(date(2024, 1, 19), Decimal(100), CALL)
    # 20:59 UTC on expiry day is 15:59 in New York: still a minute of time value at the money.
    assert chain.price(contract, Decimal(100), datetime(2024, 1, 19, 20, 59, tzinfo=UTC)) > 0
    assert Decimal("0.01") == chain.price(
        contract, Decimal(100), datetime(2024, 1, 19, 21, 0, tzinfo=UTC))


def test_chain_around_spot_lists_weekly_fridays_and_centred_strikes() -> None:
    chain = OptionChain.around(AAPL, Decimal("187.3"), date(2024, 1, 2), volatility=Decimal("0.25"),
                               weeks=3, strikes_each_side=2)
    assert (date(2024, 1, 5), date(2024, 1, 12), date(2024, 1, 19)) == chain.expiries
    assert tuple(Decimal(s) for s in (175, 180, 185, 190, 195)) == chain.strikes
    assert 3 * 5 * 2 == len(chain.contracts())


def test_fridays_after_a_friday_start_next_week() -> None:
    assert [date(2024, 1, 12)] == fridays_after(date(2024, 1, 5), 1)


def test_unlisted_contracts_are_refused() -> None:
    chain = OptionChain(AAPL, (date(2024, 1, 19),), (Decimal(100),), Decimal("0.3"))
    with pytest.raises(InvalidValue):
        chain.contract(date(2024, 1, 19), Decimal(105), CALL)
    with pytest.raises(InvalidValue):
        OptionMarket([chain]).watch(OptionContract("MSFT", date(2024, 1, 19), Decimal(100), CALL))


def test_option_market_reprices_only_watched_unexpired_contracts() -> None:
    chain = OptionChain(AAPL, (date(2024, 1, 19),), (Decimal(100),), Decimal("0.3"))
    market = OptionMarket([chain])
    contract = chain.contract(date(2024, 1, 19), Decimal(100), CALL)
    now = datetime(2024, 1, 10, 21, tzinfo=UTC)
    assert [] == market.repriced(AAPL.id, Decimal(100), now)
    market.watch(contract)
    assert [(contract, chain.price(contract, Decimal(100), now))] == market.repriced(
        AAPL.id, Decimal(100), now)
    assert [] == market.repriced(AAPL.id, Decimal(100), now + timedelta(days=10))
