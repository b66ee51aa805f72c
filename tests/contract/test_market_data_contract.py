"""Every MarketData adapter passes the MarketData contract."""

from ordergate.application.testing.contracts import MarketDataContract


class TestMarketDataContract(MarketDataContract):
    """The fake and the simulator's market data, through their harnesses."""
