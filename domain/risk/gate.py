"""The risk gate: run every enabled rule on a request and turn the denials into a decision.

Every rule runs, so a denial lists all the reasons at once, and the decision records the inputs
the rules looked at. The gate decides; it never sends, audits or changes anything.
"""

from __future__ import annotations

import attrs

from ordergate.domain.orders.request import OrderRequest
from ordergate.domain.risk.decision import Denial, RiskDecision
from ordergate.domain.risk.limits import Rule
from ordergate.domain.risk.rules import RiskContext, RuleFn
from ordergate.domain.risk.rules_account import (
    check_consecutive_losses,
    check_daily_loss,
    check_drawdown,
    check_pattern_day_trader,
    check_submit_rate,
)
from ordergate.domain.risk.rules_exposure import (
    check_affordability,
    check_gross_notional,
    check_leverage,
    check_open_orders,
    check_order_notional,
    check_order_quantity,
    check_position,
)
from ordergate.domain.risk.rules_market import (
    check_duplicate,
    check_price_collar,
    check_price_increment,
    check_staleness,
)
from ordergate.domain.risk.rules_state import (
    check_breakers,
    check_over_close,
    check_trading_state,
)

__all__ = ["DEFAULT_RULES", "GateRule", "RiskGate", "evaluate"]


@attrs.frozen
class GateRule:
    """A rule as the gate runs it. `rule` is None for the checks that cannot be disabled."""

    name: str
    check: RuleFn
    rule: Rule | None = None


DEFAULT_RULES: tuple[GateRule, ...] = (
    GateRule("trading_state", check_trading_state),
    GateRule("breakers", check_breakers),
    GateRule("over_close", check_over_close),
    GateRule("duplicate_guard", check_duplicate, Rule.DUPLICATE),
    GateRule("price_increment", check_price_increment, Rule.PRICE_INCREMENT),
    GateRule("data_staleness", check_staleness, Rule.STALENESS),
    GateRule("price_collar", check_price_collar, Rule.PRICE_COLLAR),
    GateRule("max_order_quantity", check_order_quantity, Rule.ORDER_QUANTITY),
    GateRule("max_order_notional", check_order_notional, Rule.ORDER_NOTIONAL),
    GateRule("max_position", check_position, Rule.POSITION),
    GateRule("max_gross_notional", check_gross_notional, Rule.GROSS_NOTIONAL),
    GateRule("max_leverage", check_leverage, Rule.LEVERAGE),
    GateRule("max_open_orders", check_open_orders, Rule.OPEN_ORDERS),
    GateRule("max_submit_rate", check_submit_rate, Rule.SUBMIT_RATE),
    GateRule("daily_loss_limit", check_daily_loss, Rule.DAILY_LOSS),
    GateRule("weekly_drawdown", check_drawdown, Rule.DRAWDOWN),
    GateRule("consecutive_losses", check_consecutive_losses, Rule.CONSECUTIVE_LOSSES),
    GateRule("pattern_day_trader", check_pattern_day_trader, Rule.PATTERN_DAY_TRADER),
    GateRule("affordability", check_affordability, Rule.AFFORDABILITY),
)
"""Every rule, mandatory checks first. Cheap checks come before those that value the portfolio."""


@attrs.frozen
class RiskGate:
    """Runs `rules` (all of them, skipping those the limits disable) and decides."""

    rules: tuple[GateRule, ...] = DEFAULT_RULES

    def evaluate(self, request: OrderRequest, ctx: RiskContext) -> RiskDecision:
        """Approve the request, or deny it with every reason; never raises for a bad order."""
        ctx.begin()
        ctx.note("intent", request.intent.value)
        ctx.note("order", f"{request.side.value} {request.quantity:f} {ctx.instrument_id(request)}")
        disabled = ctx.limits.disabled
        denials: list[Denial] = []
        for entry in self.rules:
            if entry.rule is not None and entry.rule in disabled:
                continue
            denial = entry.check(request, ctx)
            if denial is not None:
                denials.append(denial)
        reducing = ctx.is_reducing(request)
        return RiskDecision(
            request.client_order_id,
            not denials,
            ctx.now,
            tuple(denials),
            ctx.inputs,
            correlation_id=request.correlation_id,
            reducing=reducing,
        )


_DEFAULT_GATE = RiskGate()


def evaluate(request: OrderRequest, ctx: RiskContext) -> RiskDecision:
    """Evaluate `request` with every default rule (see `RiskGate`)."""
    return _DEFAULT_GATE.evaluate(request, ctx)
