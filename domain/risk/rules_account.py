"""Account rules: submit rate, daily loss, weekly drawdown, losing streak, pattern day trading.

The loss rules stop *new* risk only: an order that reduces a position still passes them, so a
losing account can always get smaller. The submit-rate and pattern-day-trader rules apply to
reducing orders too (the PDT rule exists precisely to stop a same-day round trip); closures and
flattens pass every rule here.
"""

from __future__ import annotations

from bisect import bisect_right

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import Denial, RiskCode
from ordergate.domain.risk.rules import RiskContext, deny, fmt, new_risk_rule
from ordergate.domain.values import ZERO, Side

__all__ = [
    "check_consecutive_losses",
    "check_daily_loss",
    "check_drawdown",
    "check_pattern_day_trader",
    "check_submit_rate",
]


@new_risk_rule
def check_submit_rate(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny an order when `max_submit_rate` submissions already happened in the last window.

    `ctx.recent_submits` is ascending, so the window is found by bisection, not by a scan.
    """
    limits = ctx.limits
    window_start = ctx.now - limits.submit_rate_window
    recent = ctx.recent_submits
    count = len(recent) - bisect_right(recent, window_start)
    ctx.note("submits_in_window", count)
    if count < limits.max_submit_rate:
        return None
    seconds = _seconds(limits.submit_rate_window.total_seconds())
    return deny(
        RiskCode.MAX_SUBMIT_RATE,
        f"{count} orders were submitted in the last {seconds}s; max_submit_rate "
        f"{limits.max_submit_rate} per {seconds}s allows no more",
        limits.max_submit_rate,
        count,
    )


def _seconds(seconds: float) -> str:
    """Seconds without a trailing `.0` (1.0 → `1`, 0.5 → `0.5`)."""
    return f"{seconds:g}"


@new_risk_rule
def check_daily_loss(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny new risk once the session has lost `daily_loss_limit` × session start equity."""
    if ctx.is_reducing(request):
        return None
    portfolio = ctx.portfolio
    fraction = ctx.limits.daily_loss_limit
    start = portfolio.session_start_equity
    allowed = fraction * start
    loss = start - ctx.equity
    ctx.note("session_pnl", -loss)
    if loss <= 0 or loss < allowed:
        return None
    return deny(
        RiskCode.DAILY_LOSS_LIMIT,
        f"session PnL {fmt(-loss)} has reached the daily loss limit {fmt(-allowed)} "
        f"(daily_loss_limit {fmt(fraction)} of session start equity {fmt(start)}); "
        "only reducing orders pass until the next session",
        -allowed,
        -loss,
    )


@new_risk_rule
def check_drawdown(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny new risk once equity is `max_weekly_drawdown` (a fraction) below the week's high."""
    if ctx.is_reducing(request):
        return None
    portfolio = ctx.portfolio
    limit = ctx.limits.max_weekly_drawdown
    high = portfolio.week_high_equity
    # Portfolio.drawdown_from_week_high(), on the context's equity (no second valuation walk).
    drawdown = max(ZERO, (high - ctx.equity) / high) if high > 0 else ZERO
    ctx.note("weekly_drawdown", drawdown)
    if drawdown <= 0 or drawdown < limit:
        return None
    return deny(
        RiskCode.DRAWDOWN_GOVERNOR,
        f"drawdown {fmt(drawdown)} from the week's high equity "
        f"{fmt(portfolio.week_high_equity)} has reached max_weekly_drawdown {fmt(limit)}; "
        "only reducing orders pass",
        limit,
        drawdown,
    )


@new_risk_rule
def check_consecutive_losses(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny new risk after `max_consecutive_losses` losing trades in a row."""
    if ctx.is_reducing(request):
        return None
    limit = ctx.limits.max_consecutive_losses
    losses = ctx.portfolio.consecutive_losses
    ctx.note("consecutive_losses", losses)
    if losses == 0 or losses < limit:
        return None
    return deny(
        RiskCode.CONSECUTIVE_LOSSES,
        f"{losses} losing trades in a row have reached max_consecutive_losses {limit}; "
        "only reducing orders pass",
        limit,
        losses,
    )


@new_risk_rule
def check_pattern_day_trader(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Under `pdt_equity_threshold` equity, deny the day trade beyond `pdt_max_day_trades`.

    An order makes a day trade when it reduces a position opened today (exchange time zone);
    the count is over the last `pdt_window_business_days` business days: the exchange
    calendar's sessions (`ctx.calendar`), so holidays do not count.
    """
    portfolio = ctx.portfolio
    position = portfolio.position(ctx.instrument_id(request))
    if position is None or position.is_flat or position.opened_at is None:
        return None
    if (position.quantity > 0) == (request.side is Side.BUY):
        return None  # adds to the position: not a day trade
    zone = portfolio.zone
    if position.opened_at.astimezone(zone).date() != ctx.now.astimezone(zone).date():
        return None
    limits = ctx.limits
    equity = ctx.equity
    if equity >= limits.pdt_equity_threshold:
        return None
    trades = portfolio.day_trades_within(
        ctx.now, limits.pdt_window_business_days, ctx.calendar
    )
    ctx.note("day_trades", trades)
    if trades < limits.pdt_max_day_trades:
        return None
    return deny(
        RiskCode.PATTERN_DAY_TRADER,
        f"closing {request.instrument.id} today would be day trade {trades + 1}; with equity "
        f"{fmt(equity)} below pdt_equity_threshold {fmt(limits.pdt_equity_threshold)} at most "
        f"{limits.pdt_max_day_trades} are allowed in {limits.pdt_window_business_days} "
        "business days",
        limits.pdt_max_day_trades,
        trades + 1,
    )
