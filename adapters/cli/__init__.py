"""The ordergate command line (typer + rich): a driving adapter over the application facade."""
