"""TWS gateway emulator: speaks the TWS API wire protocol, driven by the sim matching engine."""
