"""Option expiry is computed in the exchange's time zone, not at midnight UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from ordergate.domain.instruments import OptionContract, OptionRight, Stock, quantize_price

OPT = OptionContract("AAPL", date(2024, 1, 19), Decimal(150), OptionRight.CALL)


def test_occ_symbol() -> None:
    assert OPT.symbol == "AAPL  240119C00150000"
    assert str(OPT.id) == "AAPL  240119C00150000"


def test_not_expired_at_midnight_utc_of_last_trading_day() -> None:
    midnight_utc = datetime(2024, 1, 19, 0, 0, tzinfo=UTC)
    assert not OPT.is_expired(midnight_utc)
    assert OPT.days_to_expiry(midnight_utc) == 1  # still Jan 18 in New York


def test_expired_at_last_trade_time_in_new_york() -> None:
    assert not OPT.is_expired(datetime(2024, 1, 19, 20, 59, tzinfo=UTC))  # 15:59 EST
    assert OPT.is_expired(datetime(2024, 1, 19, 21, 0, tzinfo=UTC))  # 16:00 EST


def test_days_to_expiry_counts_exchange_calendar_days() -> None:
    assert OPT.days_to_expiry(datetime(2024, 1, 16, 15, 0, tzinfo=UTC)) == 3
    assert OPT.days_to_expiry(datetime(2024, 1, 20, 15, 0, tzinfo=UTC)) == -1


def test_custom_last_trade_time() -> None:
    early = OptionContract(
        "SPY", date(2024, 7, 3), Decimal(500), OptionRight.PUT, last_trade_time=time(13, 0)
    )
    assert early.is_expired(datetime(2024, 7, 3, 17, 0, tzinfo=UTC))  # 13:00 EDT


def test_multiplier_defaults() -> None:
    assert OPT.multiplier == Decimal(100)
    assert Stock("AAPL").multiplier == Decimal(1)
    assert OPT.is_option
    assert not Stock("AAPL").is_option


def test_price_grid() -> None:
    stock = Stock("AAPL")
    assert stock.is_valid_price(Decimal("100.01"))
    assert not stock.is_valid_price(Decimal("100.015"))
    assert quantize_price(Decimal("100.016"), Decimal("0.01")) == Decimal("100.02")
    assert quantize_price(Decimal("100.07"), Decimal("0.05")) == Decimal("100.05")
    assert OPT.is_valid_price(Decimal("1.25"))
    assert OPT.is_valid_quantity(Decimal(2))
