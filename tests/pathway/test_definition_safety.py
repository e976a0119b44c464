"""`validate` refuses definitions that are unsafe to run (issue 13, item 4), and reads no file
outside the definition's folder. Each case was accepted (or crashed) before."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from pathway import DefinitionError, load_definition
from pathway.loader import exclusive
from pathway.yamlio import definitions_dir

TRD = yaml.safe_load((definitions_dir() / "trd.yaml").read_text(encoding="utf-8"))


def write(tmp_path: Path, change: Callable[[dict[str, Any]], None], name: str = "d.yaml") -> Path:
    """The TRD definition with a change, beside copies of its catalogs."""
    data = copy.deepcopy(TRD)
    change(data)
    for f in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / f).write_text((definitions_dir() / f).read_text(encoding="utf-8"))
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def messages(path: Path) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    return [f"{i.loc}: {i.message}" for i in info.value.issues]


def _t(data: dict[str, Any], trigger: str, source: str) -> dict[str, Any]:
    return next(t for t in data["transitions"] if t["trigger"] == trigger and source in t["source"])


def two_relapses(d: dict[str, Any]) -> None:
    d["transitions"].append(
        {
            "trigger": "relapse",
            "source": ["maintenance"],
            "dest": "switch",
            "guard": {"pred": "relapse"},
        }
    )


def out_of_final(d: dict[str, Any]) -> None:
    d["transitions"].append({"trigger": "reopen", "source": ["exited"], "dest": "reassess"})


def negative_weeks(d: dict[str, Any]) -> None:
    d["parameters"]["min_weeks_at_adequate_dose"]["value"] = -6


def declared_range(d: dict[str, Any]) -> None:
    d["parameters"]["stop_bang_positive_min"].update(min=0, max=2)  # the value is 3


def trap(d: dict[str, Any]) -> None:
    d["states"] += [
        {"id": "limbo_a", "kind": "treatment", "label": "A"},
        {"id": "limbo_b", "kind": "treatment", "label": "B"},
    ]
    d["transitions"] += [
        {
            "trigger": "wander",
            "source": ["reassess"],
            "dest": "limbo_a",
            "guard": {"pred": "relapse"},
        },
        {"trigger": "flip", "source": ["limbo_a"], "dest": "limbo_b"},
        {"trigger": "flop", "source": ["limbo_b"], "dest": "limbo_a"},
    ]
    d["transitions"] = [t for t in d["transitions"] if t["trigger"] != "escalate"]
    d["recommendation"]["order"] = [
        s for s in d["recommendation"]["order"] if s["trigger"] != "escalate"
    ]


def deep_guard(d: dict[str, Any]) -> None:
    g: dict[str, Any] = {"pred": "relapse"}
    for _ in range(20):
        g = {"not": g}
    _t(d, "relapse", "maintenance")["guard"] = g


CASES = [
    ("ambiguous-transition", two_relapses, ".trigger: 'relapse' from 'maintenance' goes to"),
    ("out-of-final", out_of_final, ".source[0]: a transition leaves the final state 'exited'"),
    (
        "negative-parameter",
        negative_weeks,
        "parameters.min_weeks_at_adequate_dose.value: must be within 1–52",
    ),
    (
        "declared-range",
        declared_range,
        "parameters.stop_bang_positive_min.value: must be within 0–2",
    ),
    ("no-way-out", trap, "no final or continuing state can be reached"),
    ("deep-guard", deep_guard, "guard nested 21 deep"),
]


@pytest.mark.parametrize(("change", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_validate_refuses_an_unsafe_definition(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], expected: str
) -> None:
    found = messages(write(tmp_path, change))
    assert any(expected in m for m in found), found


def test_a_catalog_path_outside_the_definition_folder_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "elsewhere" / "secret.yaml"
    secret.parent.mkdir()
    secret.write_text("drugs: [{name: 'TOP SECRET LINE'}]\n", encoding="utf-8")
    folder = tmp_path / "defs"
    folder.mkdir()
    path = write(folder, lambda d: d["catalog"].update(drugs="../elsewhere/secret.yaml"))
    with pytest.raises(DefinitionError) as info:
        load_definition(path)
    text = str(info.value)
    assert "catalog.drugs: a catalog path must stay in the definition's folder" in text
    assert "TOP SECRET" not in text and "secret.yaml" not in text


def test_a_3000_deep_guard_exits_2_naming_the_file(tmp_path: Path) -> None:
    from engine.cli import app

    text = (definitions_dir() / "trd.yaml").read_text(encoding="utf-8")
    deep = "{not: " * 3000 + "{pred: relapse}" + "}" * 3000
    text = text.replace("guard: {pred: relapse}", f"guard: {deep}")
    for f in ("drugs.yaml", "instruments.yaml"):
        (tmp_path / f).write_text((definitions_dir() / f).read_text(encoding="utf-8"))
    (tmp_path / "deep.yaml").write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(tmp_path / "deep.yaml")])
    assert result.exit_code == 2, result.output
    assert "deep.yaml" in result.output


def test_guards_that_are_exclusive_by_construction_are_accepted(tmp_path: Path) -> None:
    """The 1.1 pattern: one trigger from one state to two places, told apart by one predicate
    with disjoint values (inside `all`), or by a guard and its negation."""

    def fork(d: dict[str, Any]) -> None:
        common = {"pred": "differential_clear"}
        d["transitions"] += [
            {
                "trigger": "fork",
                "source": ["reassess"],
                "dest": "neurostimulation",
                "guard": {"all": [common, {"pred": "outcome", "in": ["partial", "response"]}]},
            },
            {
                "trigger": "fork",
                "source": ["reassess"],
                "dest": "rapid_acting",
                "guard": {"all": [{"pred": "outcome", "in": ["none"]}, common]},
            },
            {
                "trigger": "relapse",
                "source": ["maintenance"],
                "dest": "switch",
                "guard": {"not": {"pred": "relapse"}},
            },
        ]

    assert load_definition(write(tmp_path, fork)).metadata.id == "trd"
    # the shipped 1.1 `continue_course` pair is told apart by `current_step`'s disjoint kinds
    shipped = load_definition()
    assert {t.dest for t in shipped.transitions if t.trigger == "continue_course"} == {
        "neurostimulation",
        "rapid_acting",
    }


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ({"pred": "p", "kind": ["x"]}, {"pred": "p", "kind": ["y"]}, True),
        ({"pred": "p", "kind": ["x", "y"]}, {"pred": "p", "kind": ["y"]}, False),
        (
            {"all": [{"pred": "q"}, {"pred": "p", "in": [1]}]},
            {"all": [{"pred": "p", "in": [2]}]},
            True,
        ),
        ({"pred": "p", "in": [1], "role": "a"}, {"pred": "p", "in": [2], "role": "b"}, False),
        ({"pred": "q"}, {"not": {"pred": "q"}}, True),
        ({"any": [{"pred": "q"}]}, {"not": {"any": [{"pred": "q"}]}}, True),
        ({"pred": "q"}, {"pred": "q"}, False),
        (None, None, False),
        ({"pred": "q"}, None, False),
    ],
)
def test_the_exclusivity_rule(a: Any, b: Any, expected: bool) -> None:
    assert exclusive(a, b) is expected
    assert exclusive(b, a) is expected
