"""Indicator math (EMA, RSI, VWAP, Bollinger): batch numpy functions and incremental objects that agree exactly."""
