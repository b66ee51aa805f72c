"""Positions, portfolio and account state built from fills."""
