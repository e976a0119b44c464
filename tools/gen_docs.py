"""Regenerate the README's images (docs/*.svg) from a fixed demo cohort (`make docs`)."""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from engine.demo import run_demo

DOCS = Path(__file__).resolve().parent.parent / "docs"
AS_OF = dt.date(2026, 11, 26)  # fixed, so the images only change when the code does


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run_demo(
            None,
            tmp,
            end=AS_OF,
            console=Console(file=open("/dev/null", "w")),  # noqa: SIM115
            progress=False,
        )
        DOCS.mkdir(exist_ok=True)
        for name in ("pathway", "cohort"):
            shutil.copy(
                Path(tmp) / f"{name}.svg", DOCS / f"{'trd' if name == 'pathway' else name}.svg"
            )
            print(f"wrote {DOCS / name}.svg")


if __name__ == "__main__":
    main()
