"""Every EventPublisher adapter passes the publisher contract."""

from ordergate.application.testing.contracts import PublisherContract


class TestPublisherContract(PublisherContract):
    """The in-memory publisher, through its harness."""
