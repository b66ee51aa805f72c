"""The testing kit's risk-invariant machine, run as a test against two sets of limits.

The machine (`ordergate.application.testing.machines.risk_machine`) drives a portfolio through
the risk gate with random order requests, fills (partial, duplicated, commissions before and
after), cancels, price moves, clock advances, trading-state changes, breakers, Strategy C
closures and flattens, and checks SPEC §9's invariants against a shadow ledger after every step:
no worst case above its limit, gross notional and leverage under their caps at approval, no new
risk while HALTED/REDUCING/breaker open or on a stale quote, closures never blocked and never
over-closing, each execution applied once, position == Σ signed fills, filled + leaves ==
quantity, cash + positions reconciling with PnL.
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings

from ordergate.application.testing.machines import risk_machine
from ordergate.domain.risk import RiskLimits

TIGHT = RiskLimits(
    max_order_quantity=Decimal(150),
    max_order_notional=Decimal(15_000),
    max_position=Decimal(200),
    max_gross_notional=Decimal(20_000),  # binds before affordability; leverage after losses
    max_leverage=Decimal(1),
    max_open_orders=6,
    max_submit_rate=4,
)

DefaultLimitsMachine = risk_machine(RiskLimits(), name="DefaultLimitsMachine")
DefaultLimitsMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=30, deadline=None
)
TestDefaultLimits = DefaultLimitsMachine.TestCase

# A small account under the pattern-day-trader threshold, where every limit binds early.
TightLimitsMachine = risk_machine(TIGHT, start_cash=Decimal(24_000), name="TightLimitsMachine")
TightLimitsMachine.TestCase.settings = settings(
    max_examples=100, stateful_step_count=30, deadline=None
)
TestTightLimits = TightLimitsMachine.TestCase
