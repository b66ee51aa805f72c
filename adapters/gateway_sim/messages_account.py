"""Encoders of the position, account and PnL messages, and the mapping from an engine's
`AccountSnapshot` to IB's account tags.

Laid out as the client's decoder unpacks them (position exactly 16 fields, updatePortfolio 20,
pnlSingle's position an integer string). Must never import `ib_async`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from ordergate.adapters.gateway_sim.engine_types import (
    AccountSnapshot,
    PnLSingleView,
    PnLView,
    PositionView,
)
from ordergate.adapters.gateway_sim.messages import fields
from ordergate.adapters.gateway_sim.translate import contract_fields

__all__ = [
    "account_download_end",
    "account_summary",
    "account_summary_end",
    "account_tags",
    "account_update_multi",
    "account_update_multi_end",
    "pnl",
    "pnl_single",
    "position",
    "position_end",
    "update_account_time",
    "update_account_value",
    "update_portfolio",
]

_CENTS = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENTS)


def account_tags(snapshot: AccountSnapshot) -> list[tuple[str, str, str]]:
    """(tag, value, currency) for every IB account tag the snapshot answers."""
    s = snapshot
    cur = s.currency
    money = {
        "NetLiquidation": s.net_liquidation,
        "TotalCashValue": s.total_cash,
        "SettledCash": s.total_cash,
        "AccruedCash": Decimal(0),
        "BuyingPower": s.buying_power,
        "EquityWithLoanValue": s.equity_with_loan,
        "PreviousDayEquityWithLoanValue": s.equity_with_loan,
        "GrossPositionValue": s.gross_position_value,
        "RegTEquity": s.equity_with_loan,
        "RegTMargin": s.init_margin,
        "SMA": s.available_funds,
        "InitMarginReq": s.init_margin,
        "MaintMarginReq": s.maint_margin,
        "AvailableFunds": s.available_funds,
        "ExcessLiquidity": s.excess_liquidity,
        "FullInitMarginReq": s.init_margin,
        "FullMaintMarginReq": s.maint_margin,
        "FullAvailableFunds": s.available_funds,
        "FullExcessLiquidity": s.excess_liquidity,
        "LookAheadInitMarginReq": s.init_margin,
        "LookAheadMaintMarginReq": s.maint_margin,
        "LookAheadAvailableFunds": s.available_funds,
        "LookAheadExcessLiquidity": s.excess_liquidity,
        "CashBalance": s.total_cash,
        "RealizedPnL": s.realized_pnl,
        "UnrealizedPnL": s.unrealized_pnl,
    }
    tags = [(tag, str(_money(value)), cur) for tag, value in money.items()]
    cushion = s.excess_liquidity / s.net_liquidation if s.net_liquidation else Decimal(0)
    leverage = s.gross_position_value / s.net_liquidation if s.net_liquidation else Decimal(0)
    tags += [
        ("AccountType", "INDIVIDUAL", ""),
        ("Cushion", str(cushion.quantize(Decimal("0.000001"))), ""),
        ("Leverage", str(leverage.quantize(Decimal("0.000001"))), ""),
        ("DayTradesRemaining", "-1", ""),
        ("HighestSeverity", "0", ""),
        ("LookAheadNextChange", "0", ""),
    ]
    return tags


def position(pos: PositionView) -> list[str]:
    """position (61): exactly 16 fields; avgCost includes the multiplier."""
    return fields(61, 3, pos.account, *contract_fields(pos.contract), pos.quantity,
                  pos.avg_cost.quantize(Decimal("1e-8")))


def position_end() -> list[str]:
    """positionEnd (62)."""
    return fields(62, 1)


def update_account_value(tag: str, value: str, currency: str, account: str) -> list[str]:
    """updateAccountValue (6)."""
    return fields(6, 2, tag, value, currency, account)


def update_portfolio(pos: PositionView) -> list[str]:
    """updatePortfolio (7): 20 fields, the contract with its primary exchange."""
    mark = pos.market_price if pos.market_price is not None else pos.avg_price
    return fields(
        7, 8, *contract_fields(pos.contract, primary_exchange=True), pos.quantity, mark,
        _money(pos.market_value), pos.avg_cost.quantize(Decimal("1e-8")),
        _money(pos.unrealized_pnl), _money(pos.realized_pnl), pos.account,
    )


def update_account_time(now: datetime) -> list[str]:
    """updateAccountTime (8): HH:MM."""
    return fields(8, 1, now.strftime("%H:%M"))


def account_download_end(account: str) -> list[str]:
    """accountDownloadEnd (54)."""
    return fields(54, 1, account)


def account_update_multi(
    req_id: int, account: str, model_code: str, row: tuple[str, str, str]
) -> list[str]:
    """accountUpdateMulti (73); `row` is (tag, value, currency)."""
    tag, value, currency = row
    return fields(73, 1, req_id, account, model_code, tag, value, currency)


def account_update_multi_end(req_id: int) -> list[str]:
    """accountUpdateMultiEnd (74)."""
    return fields(74, 1, req_id)


def account_summary(
    req_id: int, account: str, tag: str, value: str, currency: str
) -> list[str]:
    """accountSummary (63)."""
    return fields(63, 1, req_id, account, tag, value, currency)


def account_summary_end(req_id: int) -> list[str]:
    """accountSummaryEnd (64)."""
    return fields(64, 1, req_id)


def pnl(req_id: int, view: PnLView) -> list[str]:
    """pnl (94): daily, unrealized, realized (no version field)."""
    return fields(94, req_id, _money(view.daily), _money(view.unrealized), _money(view.realized))


def pnl_single(req_id: int, view: PnLSingleView) -> list[str]:
    """pnlSingle (95): the position as an integer string (the client parses it with int())."""
    return fields(
        95, req_id, int(view.position), _money(view.daily), _money(view.unrealized),
        _money(view.realized), _money(view.value),
    )


def summary_rows(
    snapshot: AccountSnapshot, wanted: Iterable[str]
) -> list[tuple[str, str, str]]:
    """The account tags a reqAccountSummary tag list asks for (`$LEDGER...` adds cash rows)."""
    requested = {t.strip() for t in wanted if t.strip()}
    rows = [row for row in account_tags(snapshot) if row[0] in requested]
    if any(t.startswith("$LEDGER") for t in requested):
        rows += [
            ("CashBalance", str(_money(snapshot.total_cash)), snapshot.currency),
            ("NetLiquidationByCurrency", str(_money(snapshot.net_liquidation)),
             snapshot.currency),
        ]
    return rows
