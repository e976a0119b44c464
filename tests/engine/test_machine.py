"""The transitions machine: one per loaded definition (and gone with it), no model per patient,
our guards decide."""

from __future__ import annotations

import datetime as dt
import gc
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from engine import machine as m
from pathway import Definition, derive, load_definition, parse_record
from pathway.compiled import CompiledDefinition
from pathway.errors import InvalidTrigger, TransitionBlocked
from pathway.evaluation import GuardResult
from pathway.facts import Facts
from pathway.loader import _load
from pathway.yamlio import definitions_dir

WEEKS = "  min_weeks_at_adequate_dose:\n    value: 6\n"
RISK = {"date": "2026-05-30", "suicidality": "active"}


def facts_of(trd: Definition, **record: object) -> Facts:
    rec = parse_record({"id": "P-1", **record}, catalog=trd.catalog)
    return derive(rec, as_of=dt.date(2026, 6, 1), params=trd.parameters, catalog=trd.catalog)


def test_one_machine_per_definition_built_once(trd: Definition) -> None:
    first = m.machine_for(trd)
    assert m.machine_for(trd) is first
    assert first.key == ("trd", "1.1.0")
    machine = first.machine
    assert machine.auto_transitions is False and machine.ignore_invalid_triggers is False
    assert machine.models == []  # model=None: nobody is registered, ever
    assert set(machine.states) == {s.id for s in trd.states}


def load_edited(folder: Path, i: int) -> Definition:
    """A copy of trd.yaml with another minimum trial length (the same id and version), loaded."""
    text = (definitions_dir() / "trd.yaml").read_text(encoding="utf-8")
    assert text.count(WEEKS) == 1
    for name in ("drugs", "instruments"):
        text = text.replace(f"{name}: {name}.yaml", f"{name}: {definitions_dir() / name}.yaml")
    path = folder / f"d{i}.yaml"
    path.write_text(text.replace(WEEKS, WEEKS.replace("6", str(4 + i % 9))), "utf-8")
    return load_definition(path)


def test_the_machine_belongs_to_its_definition(trd: Definition, tmp_path: Path) -> None:
    copy = trd.model_copy()  # a copy works out its own compiled form, and so its own machine
    assert m.machine_for(copy) is not m.machine_for(trd)
    assert m.machine_for(copy) is m.machine_for(copy)
    edited = load_edited(tmp_path, 0)  # the same id and version, other content: its own machine
    assert edited.key == trd.key
    assert m.machine_for(edited) is not m.machine_for(trd)
    assert m.machine_for(edited) is m.machine_for(edited)


def test_machines_of_dropped_definitions_are_not_retained(tmp_path: Path) -> None:
    """A service that reloads edited definitions keeps no machine of the old ones: the machine
    lives and dies with its definition (a dict keyed by version would keep the last of each, and
    one keyed by `id()` every one). `tests/pathway/test_compiled.py` measures the memory."""

    def live() -> Counter[str]:
        _load.cache_clear()  # the loader keeps the last 32 files read
        gc.collect()
        return Counter(
            type(o).__qualname__
            for o in gc.get_objects()
            if str(type(o).__module__).startswith(("transitions", "engine.machine"))
            or isinstance(o, Definition | CompiledDefinition)
        )

    before = live()
    refs: list[weakref.ref[Any]] = []
    for i in range(200):
        d = load_edited(tmp_path, i)
        pm = m.machine_for(d)
        assert m.machine_for(d) is pm
        moved = m.step(d, "initial_trial", "escalate", facts_of(d, risk=RISK))
        assert moved.to_state == "neurostimulation"
        refs += [weakref.ref(d), weakref.ref(pm), weakref.ref(pm.machine)]
        del d, pm, moved
    assert live() == before
    assert [r for r in refs if r() is not None] == []


def test_the_machine_moves_along_every_edge_and_keeps_no_model(
    trd: Definition, monkeypatch: pytest.MonkeyPatch
) -> None:
    chosen = {"dest": ""}  # the edge under test (a trigger may lead to several places)

    def always_true(d: Definition, facts: Facts, state: str, trigger: str) -> GuardResult:
        return GuardResult(trigger=trigger, to=chosen["dest"], result="true", reasons=[])

    monkeypatch.setattr(m, "guard_for", always_true)
    facts = facts_of(trd)
    for src, t in trd.edges:
        chosen["dest"] = t.dest
        moved = m.step(trd, src, t.trigger, facts)
        assert (moved.from_state, moved.to_state) == (src, t.dest)
    assert m.machine_for(trd).machine.models == []  # every throwaway model was removed


def test_the_machine_refuses_a_destination_no_edge_of_the_trigger_has(
    trd: Definition, monkeypatch: pytest.MonkeyPatch
) -> None:
    def elsewhere(d: Definition, facts: Facts, state: str, trigger: str) -> GuardResult:
        return GuardResult(trigger=trigger, to="maintenance", result="true", reasons=[])

    monkeypatch.setattr(m, "guard_for", elsewhere)
    with pytest.raises(TransitionBlocked):
        m.step(trd, "initial_trial", "reassess", facts_of(trd))
    assert m.machine_for(trd).machine.models == []


def test_an_unknown_trigger_lists_the_allowed_ones(trd: Definition) -> None:
    with pytest.raises(InvalidTrigger) as err:
        m.step(trd, "initial_trial", "switch", facts_of(trd))
    assert err.value.allowed == ["escalate", "reassess"]
    assert (
        str(err.value)
        == "'switch' is not a transition from 'initial_trial'; allowed: escalate, reassess"
    )


def test_nothing_leaves_a_final_state(trd: Definition) -> None:
    with pytest.raises(InvalidTrigger, match="allowed: none"):
        m.step(trd, "exited", "escalate", facts_of(trd))


def test_a_false_guard_blocks_with_reasons(trd: Definition) -> None:
    with pytest.raises(TransitionBlocked) as err:
        m.step(trd, "initial_trial", "escalate", facts_of(trd))
    assert err.value.result == "false"
    assert err.value.reasons[0].predicate == "life_threatening"


def test_a_true_guard_moves_and_keeps_its_reasons(trd: Definition) -> None:
    facts = facts_of(trd, risk={"date": "2026-05-30", "suicidality": "active"})
    step = m.step(trd, "initial_trial", "escalate", facts)
    assert (step.from_state, step.to_state) == ("initial_trial", "neurostimulation")
    assert step.guard.result == "true"
    assert "active suicidality" in step.guard.reasons[0].detail


def test_enabled_triggers_without_a_database(trd: Definition) -> None:
    facts = facts_of(trd, risk={"date": "2026-05-30", "suicidality": "active"})
    assert m.enabled_triggers(trd, "reassess", facts)[0] == "escalate"
    assert [g.trigger for g in m.evaluate_state(trd, "initial_trial", facts)] == [
        "escalate",
        "reassess",
    ]
