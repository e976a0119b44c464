"""The `pathway` command line: every typer command, its rich rendering, and the demo
(`main` is the console entry point; `app` the typer app)."""

from engine.cli.root import app, main

__all__ = ["app", "main"]
