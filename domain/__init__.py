"""The pure domain of ordergate: values, instruments, orders, positions, risk, Strategy C.

Also indicators and sizing.

Nothing here performs I/O, knows about asyncio, brokers, files or the clock: a function that needs
the time takes it as an argument. Imports are limited to the standard library, attrs and numpy
(enforced by import-linter).
"""
