"""The testing kit: Hypothesis strategies, risk-invariant machines and port contract suites."""
