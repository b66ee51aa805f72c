"""Observability adapters: Prometheus metrics (`metrics.py`)."""
