"""The testing kit: Hypothesis strategies, risk-invariant state machines and port contract suites."""
