"""Every Broker adapter passes the Broker contract (fixture `broker_harness` in conftest)."""

from ordergate.application.testing.contracts import BrokerContract


class TestBrokerContract(BrokerContract):
    """The fake and the simulated broker, through their harnesses."""
