"""Bad input is refused with a typed error naming the field and the value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from ordergate.domain.errors import InvalidValue
from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.market import Bar, Quote
from ordergate.domain.orders import OrderRequest, OrderType, TimeInForce
from ordergate.domain.orders.events import ExecutionFill
from ordergate.domain.values import ClientOrderId, ExecutionId, InstrumentId, Side

NOW = datetime(2024, 1, 5, 15, 0, tzinfo=UTC)
AAPL = Stock("AAPL")


def limit(**overrides: object) -> OrderRequest:
    fields: dict[str, object] = {
        "client_order_id": ClientOrderId("C1"),
        "instrument": AAPL,
        "side": Side.BUY,
        "quantity": Decimal(10),
        "order_type": OrderType.LIMIT,
        "limit_price": Decimal("100.00"),
    }
    fields.update(overrides)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def test_float_price_is_refused_naming_field_and_value() -> None:
    with pytest.raises(InvalidValue) as err:
        limit(limit_price=100.5)
    assert "OrderRequest.limit_price" in str(err.value)
    assert "100.5" in str(err.value)
    assert "float" in str(err.value)


def test_nan_price_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"limit_price.*finite.*NaN"):
        limit(limit_price=Decimal("NaN"))


def test_infinite_quantity_is_refused() -> None:
    with pytest.raises(InvalidValue, match="quantity: must be finite"):
        limit(quantity=Decimal("Infinity"))


@pytest.mark.parametrize("qty", [Decimal(0), Decimal(-5)])
def test_zero_or_negative_quantity_is_refused(qty: Decimal) -> None:
    with pytest.raises(InvalidValue) as err:
        limit(quantity=qty)
    assert "OrderRequest.quantity: must be > 0" in str(err.value)
    assert str(qty) in str(err.value)


def test_naive_datetime_is_refused() -> None:
    naive = datetime(2024, 1, 5, 15, 0)
    with pytest.raises(InvalidValue) as err:
        Quote(InstrumentId("AAPL"), ts=naive, last=Decimal(1))
    assert "Quote.ts" in str(err.value)
    assert "naive" in str(err.value)


def test_non_utc_datetime_is_refused() -> None:
    eastern = datetime(2024, 1, 5, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(InvalidValue, match="must be in UTC"):
        Quote(InstrumentId("AAPL"), ts=eastern, last=Decimal(1))


def test_unknown_order_type_is_refused() -> None:
    with pytest.raises(TypeError, match="order_type"):
        limit(order_type="PEGGED")


def test_limit_order_without_price_is_refused() -> None:
    with pytest.raises(InvalidValue) as err:
        limit(limit_price=None)
    assert "limit_price" in str(err.value)
    assert "required for LIMIT" in str(err.value)


def test_stop_limit_needs_both_prices() -> None:
    with pytest.raises(InvalidValue, match=r"stop_price.*required for STOP_LIMIT"):
        limit(order_type=OrderType.STOP_LIMIT)


def test_market_order_with_price_is_refused() -> None:
    with pytest.raises(InvalidValue, match="must be None for MARKET"):
        limit(order_type=OrderType.MARKET)


def test_trailing_stop_needs_exactly_one_of_amount_or_percent() -> None:
    with pytest.raises(InvalidValue, match="exactly one of trail_amount or trail_percent"):
        limit(order_type=OrderType.TRAILING_STOP, limit_price=None)
    with pytest.raises(InvalidValue, match="exactly one"):
        limit(
            order_type=OrderType.TRAILING_STOP,
            limit_price=None,
            trail_amount=Decimal(1),
            trail_percent=Decimal(1),
        )


def test_gtd_needs_expiry_and_only_gtd_has_one() -> None:
    with pytest.raises(InvalidValue, match="required for GTD"):
        limit(time_in_force=TimeInForce.GTD)
    with pytest.raises(InvalidValue, match="expire_at"):
        limit(expire_at=NOW)
    assert limit(time_in_force=TimeInForce.GTD, expire_at=NOW).expire_at == NOW


def test_fractional_shares_are_refused_for_whole_share_instruments() -> None:
    with pytest.raises(InvalidValue, match="multiple of the size increment 1"):
        limit(quantity=Decimal("1.5"))


def test_fill_with_float_price_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"ExecutionFill.price.*float"):
        ExecutionFill(
            ClientOrderId("C1"),
            ExecutionId("E1"),
            InstrumentId("AAPL"),
            Side.BUY,
            Decimal(1),
            1.0,  # type: ignore[arg-type]
            NOW,
            NOW,
        )


def test_bar_with_inconsistent_prices_is_refused() -> None:
    with pytest.raises(InvalidValue, match="low <= open, close <= high"):
        Bar(InstrumentId("AAPL"), NOW, Decimal(10), Decimal(9), Decimal(8), Decimal(9), Decimal(5))


def test_lowercase_symbol_is_refused() -> None:
    with pytest.raises(InvalidValue, match="upper-case symbol"):
        Stock("aapl")


def test_option_with_float_strike_is_refused() -> None:
    with pytest.raises(InvalidValue, match=r"OptionContract\.strike"):
        OptionContract("AAPL", NOW.date(), 150.0, OptionRight.CALL)  # type: ignore[arg-type]


def test_identifiers_must_be_non_empty() -> None:
    with pytest.raises(InvalidValue, match=r"ClientOrderId\.value"):
        ClientOrderId("  ")


def test_error_keeps_field_and_value_for_programs() -> None:
    with pytest.raises(InvalidValue) as err:
        limit(limit_price=Decimal(-1))
    assert err.value.field == "OrderRequest.limit_price"
    assert err.value.value == Decimal(-1)
    assert isinstance(err.value, ValueError)
