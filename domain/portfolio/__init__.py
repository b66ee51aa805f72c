"""Positions, portfolio and account state built from fills."""

from ordergate.domain.portfolio.portfolio import DayTrade, Portfolio
from ordergate.domain.portfolio.position import Position

__all__ = ["DayTrade", "Portfolio", "Position"]
