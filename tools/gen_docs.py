"""Regenerate the README's images (docs/*.svg) from a fixed demo cohort (`make docs`)."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from pathlib import Path

from rich.console import Console

from engine.cli.demo_run import run_demo

DOCS = Path(__file__).resolve().parent.parent / "docs"
AS_OF = dt.date(2026, 11, 26)  # fixed, so the images only change when the code does


def main() -> None:
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, open(os.devnull, "w") as quiet:
        run_demo(None, tmp, end=AS_OF, console=Console(file=quiet), progress=False)
        for source, target in (("pathway.svg", "trd.svg"), ("cohort.svg", "cohort.svg")):
            shutil.copy(Path(tmp) / source, DOCS / target)
            print(f"wrote {DOCS / target}")


if __name__ == "__main__":
    main()
