"""Shared plumbing for the `pathway` command: error handling, JSON output, consoles."""

from __future__ import annotations

import codecs
import functools
import io
import json
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console

P = ParamSpec("P")
R = TypeVar("R")
EXIT_INVALID = 2
EXIT_INTERNAL = 1


def utf8_streams() -> None:
    """Standard output and error in UTF-8 whatever the locale, as in Python's UTF-8 mode (the
    default from 3.15): the same command writes the same bytes under `LC_ALL=C` with
    `PYTHONUTF8=0` or a Latin-1 locale, where a "≥" or "→" would otherwise be a
    UnicodeEncodeError that loses the whole output. JSON is UTF-8 by definition (RFC 8259)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and codecs.lookup(stream.encoding).name != "utf-8":
            stream.reconfigure(encoding="utf-8", errors=stream.errors)


def terminal_safe(text: str) -> str:
    """Text with control and bidi characters escaped (`\\x1b[2J`), line breaks kept: a note or
    an actor can neither forge a line of output nor hide text."""
    from pathway.errors import printable

    return "\n".join(printable(line) for line in text.split("\n"))


def _safe_console(**options: Any) -> Console:
    """A rich Console whose string arguments are made `terminal_safe` before printing."""
    from rich.console import Console

    class SafeConsole(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            safe = (terminal_safe(o) if isinstance(o, str) else o for o in objects)
            super().print(*safe, **kwargs)

    return SafeConsole(**options)


# Piped output (logs, CI, `make demo | less`) gets room for tables instead of rich's 80 columns.
_WIDTH = None if sys.stdout.isatty() else 132
_CONSOLES: dict[str, Callable[[], Console]] = {
    "out": lambda: _safe_console(highlight=False, soft_wrap=True, width=_WIDTH),
    "err": lambda: _safe_console(stderr=True, highlight=False, soft_wrap=True),
}
if TYPE_CHECKING:
    out: Console  # the standard output console
    err: Console  # the standard error console


def __getattr__(name: str) -> Console:
    """`out` and `err`, made on first use: importing rich's console takes longer than the rest
    of `pathway --help`, which prints none (benchmarks/startup.py)."""
    make = _CONSOLES.get(name)
    if make is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    console = globals()[name] = make()
    return console


def _console(name: str) -> Console:
    """`out` or `err` from inside this module (module `__getattr__` serves only importers)."""
    made: Console | None = globals().get(name)
    return made if made is not None else __getattr__(name)


def dump_json(value: Any) -> None:
    """Print deterministic JSON (sorted nowhere: model field order is the contract)."""
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False, default=str) + "\n")


def show(result: R, *, json_out: bool, render: Callable[[R, Console], None]) -> None:
    """A command's result: its JSON with `--json`, else `render` on standard output."""
    if json_out:
        dump_json(result)
    else:
        render(result, _console("out"))


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn our errors into a clear message on stderr and exit 2; anything else exits 1."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from pathway.errors import DefinitionError, PathwayError, RecordError, excerpt_text

        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except (DefinitionError, RecordError) as exc:
            _console("err").print(
                f"[bold red]error:[/] {exc.source + ': ' if exc.source else ''}"
                f"{len(exc.issues)} problem{'s' if len(exc.issues) != 1 else ''}",
                markup=True,
            )
            for issue in exc.issues:
                _console("err").print(f"  {issue}", markup=False)
            raise typer.Exit(EXIT_INVALID) from None
        except PathwayError as exc:
            _console("err").print(f"error: {exc}", markup=False)
            raise typer.Exit(EXIT_INVALID) from None
        except KeyboardInterrupt:
            _console("err").print("interrupted", markup=False)
            raise typer.Exit(130) from None
        except Exception as exc:  # last resort: no bare traceback for users
            if os.environ.get("PATHWAY_DEBUG"):
                raise
            _console("err").print(
                f"internal error: {type(exc).__name__}: {excerpt_text(str(exc), 200)} "
                "(set PATHWAY_DEBUG=1 for a traceback)",
                markup=False,
            )
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
