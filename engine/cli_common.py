"""Shared plumbing for the `pathway` command: error handling, JSON output, consoles."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console

from pathway.errors import DefinitionError, PathwayError, RecordError

P = ParamSpec("P")
R = TypeVar("R")
EXIT_INVALID = 2
EXIT_INTERNAL = 1

# Piped output (logs, CI, `make demo | less`) gets room for tables instead of rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() else 132
out = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def dump_json(value: Any) -> None:
    """Print deterministic JSON (sorted nowhere: model field order is the contract)."""
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn our errors into a clear message on stderr and exit 2; anything else exits 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (DefinitionError, RecordError) as exc:
            err.print(
                f"[bold red]error:[/] {exc.source + ': ' if exc.source else ''}"
                f"{len(exc.issues)} problem{'s' if len(exc.issues) != 1 else ''}",
                markup=True,
            )
            for issue in exc.issues:
                err.print(f"  {issue}", markup=False)
            raise typer.Exit(EXIT_INVALID) from None
        except PathwayError as exc:
            err.print(f"error: {exc}", markup=False)
            raise typer.Exit(EXIT_INVALID) from None
        except KeyboardInterrupt:
            err.print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as exc:  # last resort: no bare traceback for users
            if os.environ.get("PATHWAY_DEBUG"):
                raise
            err.print(
                f"internal error: {type(exc).__name__}: {exc} "
                "(set PATHWAY_DEBUG=1 for a traceback)",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
