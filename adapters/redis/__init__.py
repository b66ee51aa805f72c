"""Redis Streams EventPublisher and SignalSource."""
