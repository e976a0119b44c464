"""A definition's compiled form lives and dies with it: reloading edited definitions leaks
nothing; and the one shortcut into pydantic's internals builds what validation builds."""

from __future__ import annotations

import datetime as dt
import gc
import json
import tracemalloc
import weakref
from pathlib import Path

from pathway import PredicateResult, assess, load_definition
from pathway.compiled import CompiledDefinition
from pathway.definition import Definition
from pathway.loader import _load
from pathway.results import builder
from pathway.yamlio import definitions_dir

ROOT = Path(__file__).resolve().parents[2]
RECORD = json.loads((ROOT / "examples" / "04-two-adequate-failures.json").read_text())
WEEKS = "  min_weeks_at_adequate_dose:\n    value: 6\n"


def _live(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


def _load_edited(folder: Path, n: int, start: int) -> list[weakref.ref[Definition]]:
    """Load `n` edited copies of trd.yaml (a different minimum trial length each), assess a
    patient with each, and drop them; weak references to the definitions."""
    text = (definitions_dir() / "trd.yaml").read_text(encoding="utf-8")
    assert text.count(WEEKS) == 1
    for name in ("drugs", "instruments"):
        text = text.replace(f"{name}: {name}.yaml", f"{name}: {definitions_dir() / name}.yaml")
    refs = []
    for i in range(start, start + n):
        path = folder / f"d{i}.yaml"
        path.write_text(text.replace(WEEKS, WEEKS.replace("6", str(4 + i % 9))), "utf-8")
        d = load_definition(path)
        assert d.parameters.min_weeks_at_adequate_dose.value == 4 + i % 9
        assess(RECORD, definition=d, as_of=dt.date(2026, 6, 1))
        refs.append(weakref.ref(d))
        del d
    return refs


def _retained() -> int:
    """Bytes traced in blocks under 256 KB. What a definition leaves behind is many small blocks;
    a single larger one is an interpreter table resizing: the interned strings' grows by
    megabytes in one block whenever it fills, at whatever moment a long session reaches that."""
    return sum(t.size for t in tracemalloc.take_snapshot().traces if t.size < 256 * 1024)


def _settle() -> None:
    _load.cache_clear()  # the loader keeps the last 32 files read
    gc.collect()


def test_reloading_edited_definitions_leaks_nothing(tmp_path: Path) -> None:
    _settle()
    definitions, compiled = _live(Definition), _live(CompiledDefinition)
    tracemalloc.start()
    try:
        refs = _load_edited(tmp_path, 20, 0)
        _settle()
        after_20 = _retained()
        refs += _load_edited(tmp_path, 200, 20)
        _settle()
        after_220 = _retained()
    finally:
        tracemalloc.stop()
    assert [r for r in refs if r() is not None] == []
    assert (_live(Definition), _live(CompiledDefinition)) == (definitions, compiled)
    # 200 more definitions (each ~440 KB with its catalog while alive) leave next to nothing
    assert after_220 - after_20 < 64 * 1024, (after_20, after_220)


def test_a_definition_holds_its_compiled_form() -> None:
    d = load_definition()
    assert d.compiled is d.compiled
    assert d.compiled.ref.model_dump() == {"id": "trd", "version": "1.1.0"}
    assert d.compiled.decision_state == "reassess"


def test_builder_makes_what_validation_makes() -> None:
    # `builder` sets pydantic's instance slots directly (pinned major version): the result must
    # be indistinguishable from a validated model.
    values = {
        "predicate": "relapse",
        "result": "true",
        "detail": "latest PHQ-9 12",
        "source": "s",
        "value": 12,
        "threshold": 10,
        "evidence_date": dt.date(2026, 1, 2),
    }
    built = builder(PredicateResult)(dict(values))
    validated = PredicateResult.model_validate(values)
    assert built == validated
    assert built.model_dump(mode="json") == validated.model_dump(mode="json")
    assert built.model_fields_set == validated.model_fields_set
    assert built.model_copy(update={"value": 1}).value == 1
    assert hash(built.model_dump_json()) == hash(validated.model_dump_json())


def test_a_copy_with_other_parameters_is_evaluated_with_them() -> None:
    # pydantic's model_copy carries cached properties over: the copy would keep the original's
    # compiled form (its trial rules), and judge trials with the original's windows
    d = load_definition()
    example = Path(__file__).resolve().parents[2] / "examples" / "04-two-adequate-failures.json"
    weeks = d.parameters.min_weeks_at_adequate_dose
    longer = d.model_copy(
        update={
            "parameters": d.parameters.model_copy(
                update={"min_weeks_at_adequate_dose": weeks.model_copy(update={"value": 30})}
            )
        }
    )
    day = dt.date(2026, 6, 1)
    assert [t.status for t in assess(example, definition=d, as_of=day).trials] == [
        "adequate",
        "adequate",
    ]
    assert [t.status for t in assess(example, definition=longer, as_of=day).trials] == [
        "inadequate",
        "inadequate",
    ]
    assert longer.compiled is not d.compiled and d.model_copy().compiled is not d.compiled
    del d
    gc.collect()
    assert longer.compiled.plan(
        longer.initial_state, "reassess"
    )  # built on demand, no ReferenceError
