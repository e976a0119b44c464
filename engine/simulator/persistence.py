"""Simulated patients to durable rows: the repository's bulk insert, a batch per transaction and
never a partial patient; `simulate_to` opens a database by URL for the CLI."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from engine.simulator.cohort import CohortSummary, Tally, simulate_cohort
from engine.simulator.models import SimulatedPatient
from engine.simulator.params import SimParams
from pathway.definition import Definition

if TYPE_CHECKING:
    from engine.services import Services
    from engine.store.repository import EnrollmentRow, EventRow


class PersistReport(BaseModel):
    """What a simulation wrote."""

    model_config = ConfigDict(frozen=True)

    patients: int
    events: int
    seconds: float
    summary: CohortSummary | None = None

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def patient_rows(
    sp: SimulatedPatient,
    *,
    definition: Definition,
    actor: str,
    now: dt.datetime,
    as_of: dt.date,
    compute_due: bool = True,
) -> tuple[EnrollmentRow, list[EventRow]]:
    """The enrollment row and log of one simulated patient, as the services would write them."""
    from engine.due import next_due
    from engine.enrolling import event_row
    from engine.factlog import fact_date
    from engine.store.definition_store import pinned
    from engine.store.repository import EnrollmentRow

    pid, ref = sp.patient_id, pinned(definition)
    events = [
        event_row(
            pid,
            1,
            "enrolled",
            actor=actor,
            effective_on=sp.enrolled_on,
            recorded_at=now,
            payload={"definition": ref, **sp.header},
            to_state=definition.initial_state,
        )
    ]
    for v, e in enumerate(sp.events, start=2):
        if e.fact is not None:
            events.append(
                event_row(
                    pid,
                    v,
                    "fact",
                    actor=actor,
                    recorded_at=now,
                    effective_on=fact_date(e.fact) or e.on,
                    payload=e.fact,
                    fact_kind=e.fact["fact"],
                )
            )
        elif e.kind == "override":
            guards = f'{{"guards":[{",".join(g.model_dump_json() for g in e.overridden)}]}}'
            events.append(
                event_row(
                    pid,
                    v,
                    "override",
                    actor=actor,
                    effective_on=e.on,
                    recorded_at=now,
                    payload=guards,
                    from_state=e.from_state,
                    to_state=e.to_state,
                    reason_code=e.reason_code,
                    note=e.note,
                )
            )
        elif e.guard is not None:
            events.append(
                event_row(
                    pid,
                    v,
                    "transition",
                    actor=actor,
                    effective_on=e.on,
                    recorded_at=now,
                    trigger=e.trigger,
                    from_state=e.from_state,
                    to_state=e.to_state,
                    payload=f'{{"guard":{e.guard.model_dump_json()}}}',  # = dumps(model_dump)
                )
            )
    due, items = None, None
    if compute_due:
        due, items = next_due(
            definition,
            record=sp.record,
            state=sp.state,
            entered_state_on=sp.entered_state_on,
            as_of=as_of,
            patient=pid,
        )
    head = EnrollmentRow(
        patient_id=pid,
        definition_id=ref["id"],
        definition_version=ref["version"],
        state=sp.state,
        version=len(events),
        entered_state_on=sp.entered_state_on,
        next_due_on=due,
        created_at=now,
        updated_at=now,
        due=items,
    )
    return head, events


def persist(
    patients: Iterable[SimulatedPatient],
    svc: Services,
    *,
    definition: Definition,
    as_of: dt.date,
    actor: str = "simulator",
    batch_size: int = 500,
    compute_due: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> PersistReport:
    """Write simulated patients through the repository's bulk insert, `batch_size` per commit."""
    import gc

    from engine.errors import FutureDate
    from pathway.errors import PathwayError

    today, now = svc.clock.today(), svc.clock.now()
    if as_of > today:
        raise FutureDate("simulation end", as_of, today)
    started, n, events = time.perf_counter(), 0, 0
    batch: list[tuple[EnrollmentRow, list[EventRow]]] = []

    def flush() -> None:
        if batch:
            with svc.uow as uow:
                taken = uow.patients.existing([head.patient_id for head, _ in batch])
                if taken:
                    raise PathwayError(
                        f"patient {min(taken)} and {len(taken) - 1} more of this simulation are "
                        "already enrolled: simulate into a fresh database or with another "
                        "id prefix (--prefix)"
                    )
                uow.patients.add_many(batch)
                uow.commit()
            batch.clear()

    paused = gc.isenabled()
    gc.disable()  # bulk object building: the cyclic collector dominates it (perf-notes)
    try:
        for sp in patients:
            batch.append(
                patient_rows(
                    sp,
                    definition=definition,
                    actor=actor,
                    now=now,
                    as_of=as_of,
                    compute_due=compute_due,
                )
            )
            n, events = n + 1, events + len(batch[-1][1])
            if len(batch) >= batch_size:
                flush()
            if on_progress is not None:
                on_progress(n)
        flush()
    finally:
        if paused:
            gc.enable()
    return PersistReport(patients=n, events=events, seconds=round(time.perf_counter() - started, 3))


def simulate(
    svc: Services,
    params: SimParams,
    *,
    definition: Definition | None = None,
    progress: bool = True,
    batch_size: int = 500,
) -> PersistReport:
    """Simulate a cohort and persist it as it is generated, with a progress bar."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    defn = definition or svc.definitions.default
    svc.pin(defn)
    tally = Tally()
    stream = (tally.add(sp) for sp in simulate_cohort(params, definition=defn))
    columns = ("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("simulating patients", total=params.patients)
        report = persist(
            stream,
            svc,
            definition=defn,
            as_of=params.end,
            batch_size=batch_size,
            on_progress=lambda k: bar.update(task, completed=k),
        )
    return report.model_copy(update={"summary": tally.summary()})


def simulate_to(
    url: str | None,
    *,
    patients: int,
    seed: int,
    end: dt.date | None = None,
    prefix: str = "SIM-",
    progress: bool = True,
    preset: str | None = None,
) -> PersistReport:
    """Open a database by URL (creating the schema), simulate and persist: the CLI's body."""
    from engine.services import Services
    from engine.store.db import database_url, init_db, make_engine
    from engine.store.uow import SqlUnitOfWork

    engine = make_engine(database_url(url))
    try:
        init_db(engine)
        svc = Services(SqlUnitOfWork(engine))
        day = end or svc.clock.today()
        if preset == "star-d":
            params = SimParams.star_d(patients=patients, seed=seed, end=day).model_copy(
                update={"id_prefix": prefix}
            )
        else:
            params = SimParams(patients=patients, seed=seed, end=day, id_prefix=prefix)
        return simulate(svc, params, progress=progress)
    finally:
        engine.dispose()
