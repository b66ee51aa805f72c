"""Pre-trade risk: limits, rules returning decisions, circuit breakers and trading state."""
