"""The mandatory checks: trading state, open circuit breakers and over-closing.

These cannot be disabled. In REDUCING, and while any breaker is open, only reducing orders pass;
in HALTED only closures and flattens pass. A closure or flatten is never stopped by the state or
the breakers, but it is denied when it would close more than is open (net of the working orders
that already close it) or is on the position's own side.
"""

from __future__ import annotations

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import Denial, RiskCode, TradingState
from ordergate.domain.risk.rules import RiskContext, deny, fmt

__all__ = ["check_breakers", "check_over_close", "check_trading_state"]


def check_trading_state(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """HALTED: only closures/flattens pass. REDUCING: only those and reducing orders pass."""
    state = ctx.trading_state
    ctx.note("trading_state", state.value)
    if state is TradingState.ACTIVE or request.is_risk_reducing_intent:
        return None
    if state is TradingState.HALTED:
        return deny(
            RiskCode.TRADING_HALTED,
            "trading is HALTED: only Strategy C closures and explicit flattens pass",
            "closures and flattens only",
            state.value,
        )
    if ctx.is_reducing(request):
        return None
    return deny(
        RiskCode.TRADING_REDUCING,
        f"trading is REDUCING: only orders that reduce a position pass; {request.side.value} "
        f"{fmt(request.quantity)} {request.instrument.id} could add exposure "
        f"(closable {fmt(ctx.closable(request))})",
        "reducing orders only",
        state.value,
    )


def check_breakers(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """While any circuit breaker is not CLOSED, only reducing orders, closures and flattens pass."""
    breakers = ctx.open_breakers
    if not breakers:
        return None
    names = ",".join(sorted(breakers))
    ctx.note("open_breakers", names)
    if request.is_risk_reducing_intent or ctx.is_reducing(request):
        return None
    return deny(
        RiskCode.BREAKER_OPEN,
        f"circuit breaker(s) {names} open: only orders that reduce a position pass",
        "no open breaker",
        names,
    )


def check_over_close(request: OrderRequest, ctx: RiskContext) -> Denial | None:
    """Deny a closure or flatten that would over-close, flip, or add to the position."""
    if not request.is_risk_reducing_intent or ctx.is_reducing(request):
        return None
    exposure = ctx.exposure(request)
    closable = ctx.closable(request)
    return deny(
        RiskCode.OVER_CLOSE,
        f"{request.intent.value} {request.side.value} {fmt(request.quantity)} "
        f"{request.instrument.id} exceeds the closable quantity {fmt(closable)} (position "
        f"{fmt(exposure.quantity)}, working {request.side.value.lower()}s "
        f"{fmt(exposure.working_on(request.side))})",
        closable,
        request.quantity,
    )
