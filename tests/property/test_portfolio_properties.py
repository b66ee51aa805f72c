"""Positions equal the sum of signed fills and cash reconciles with PnL, for any fill stream."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from ordergate.domain.instruments import OptionContract, OptionRight, Stock
from ordergate.domain.orders import CommissionReport, ExecutionFill
from ordergate.domain.portfolio import Portfolio
from ordergate.domain.values import ClientOrderId, ExecutionId, Side

T0 = datetime(2024, 1, 8, 15, 0, tzinfo=UTC)
INSTRUMENTS = (
    Stock("AAPL"),
    Stock("MSFT"),
    OptionContract("AAPL", T0.date(), Decimal(150), OptionRight.PUT),
)

trade = st.tuples(
    st.sampled_from(range(len(INSTRUMENTS))),
    st.sampled_from(Side),
    st.integers(1, 300),
    st.integers(1, 50_000).map(lambda c: Decimal(c) / 100),  # price in cents
    st.one_of(st.none(), st.integers(0, 500).map(lambda c: Decimal(c) / 100)),
)


@settings(max_examples=300, deadline=None)
@given(
    trades=st.lists(trade, max_size=40),
    marks=st.lists(st.integers(1, 50_000).map(lambda c: Decimal(c) / 100), min_size=3, max_size=3),
    dup=st.lists(st.integers(0, 39), max_size=10),
    late=st.lists(st.integers(0, 39), max_size=10),
)
def test_quantity_is_sum_of_fills_and_cash_reconciles(
    trades: list[tuple[int, Side, int, Decimal, Decimal | None]],
    marks: list[Decimal],
    dup: list[int],
    late: list[int],
) -> None:
    portfolio = Portfolio(Decimal(1_000_000))
    for instrument in INSTRUMENTS:
        portfolio.register_instrument(instrument)
    fills = [
        ExecutionFill(
            ClientOrderId(f"C{i}"),
            ExecutionId(f"E{i}"),
            INSTRUMENTS[idx].id,
            side,
            Decimal(qty),
            price,
            T0,
            T0,
            commission=commission,
        )
        for i, (idx, side, qty, price, commission) in enumerate(trades)
    ]
    stream: list[ExecutionFill | CommissionReport] = list(fills)
    stream.extend(fills[d] for d in dup if d < len(fills))  # duplicates
    for i in late:  # late commissions for fills that had none
        if i < len(fills) and fills[i].commission is None:
            stream.append(CommissionReport(fills[i].execution_id, Decimal("0.35"), T0, T0))
    for event in stream:
        portfolio.apply(event)
    for instrument, mark in zip(INSTRUMENTS, marks, strict=True):
        portfolio.mark(instrument.id, mark, T0)

    for instrument in INSTRUMENTS:
        expected = sum(
            (f.signed_quantity for f in fills if f.instrument_id == instrument.id), Decimal(0)
        )
        assert portfolio.position_qty(instrument.id) == expected
    late_ids = {
        fills[i].execution_id for i in late if i < len(fills) and fills[i].commission is None
    }
    expected_commissions = sum((f.commission for f in fills if f.commission), Decimal(0)) + Decimal(
        "0.35"
    ) * len(late_ids)
    assert portfolio.total_commissions == expected_commissions
    lhs = portfolio.cash + portfolio.market_value()
    rhs = (
        portfolio.starting_cash
        + portfolio.realized_pnl()
        + portfolio.unrealized_pnl()
        - portfolio.total_commissions
    )
    assert lhs == rhs
