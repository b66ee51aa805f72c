"""The example configurations and scripts, shipped in the wheel (`ordergate init` copies
`ordergate.toml`). Data, not code: nothing imports this package but `importlib.resources`."""
