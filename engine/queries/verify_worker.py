"""One `verify --workers` worker, run as `python -m engine.queries.verify_worker`.

Its task comes as JSON on stdin; it writes JSON lines on stdout: progress, then its totals and
mismatches (`engine.queries.verify_workers` starts it and reads them). A failure prints only
the error's kind."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.store.uow import SqlUnitOfWork

_TICK = 200  # patients between two progress lines


class _Source:
    """A worker's `ReadSource`: its own unit of work, the parent's day, the definitions
    shipped and stored (as `Services` knows them)."""

    def __init__(self, uow: SqlUnitOfWork, clock: Clock) -> None:
        from engine.definitions import DefinitionRegistry

        self.uow, self.clock = uow, clock
        self.definitions = DefinitionRegistry()
        self.definitions.store = uow.definitions.fetch


def main() -> None:
    """A worker: the task from stdin, JSON lines on stdout."""
    out = sys.stdout
    try:
        from engine.clock import FixedClock
        from engine.queries.audit import check_range
        from engine.store.db import check_revision, make_engine
        from engine.store.uow import SqlUnitOfWork

        task = json.loads(sys.stdin.read())

        def tick(n: int) -> None:
            if n % _TICK == 0:
                print(json.dumps({"tick": n}), file=out, flush=True)

        engine = make_engine(task["url"], create=False)
        try:
            check_revision(engine)
            uow = SqlUnitOfWork(engine)
            source = _Source(uow, FixedClock(dt.date.fromisoformat(task["today"])))
            patients, events, found = check_range(
                source, deep=task["deep"], ids=(task["from"], task["to"]), on_progress=tick
            )
        finally:
            engine.dispose()
        report = {
            "patients": patients,
            "events": events,
            "mismatches": [(m.patient_id, m.problem) for m in found],
        }
        print(json.dumps(report), file=out, flush=True)
    except BaseException as exc:
        print(json.dumps({"failed": type(exc).__name__}), file=out, flush=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
