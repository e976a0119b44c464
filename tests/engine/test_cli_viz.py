"""`pathway render` and `pathway diff-defs` through the CLI: the plain diagram without any
database, the patient and cohort overlays from one, the definition diff, and exit 2 with a clear
message on every bad input."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from engine_support import TODAY, registry
from typer.testing import CliRunner

from engine.cli.diagrams import register
from engine.clock import FixedClock
from engine.queries.overlays import cohort_summary, patient_path
from engine.services import Services
from engine.simulator import SimParams, simulate
from engine.store.db import init_db, make_engine
from engine.store.uow import SqlUnitOfWork
from pathway.yamlio import read_data

ROOT = Path(__file__).resolve().parents[2]
TRD = ROOT / "definitions" / "trd.yaml"
AS_OF = TODAY.isoformat()

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
register(app)
runner = CliRunner()


def cli(*args: str, **env: str) -> Any:
    return runner.invoke(app, list(args), env=env or None)


def needs_dot() -> None:
    if shutil.which("dot") is None:
        pytest.skip("the Graphviz `dot` program is not installed")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A SQLite file with 120 simulated patients and P-0001, who was overridden once."""
    folder = tmp_path_factory.mktemp("clidb")
    url = f"sqlite:///{folder / 'cli.db'}"
    engine = make_engine(url)
    init_db(engine)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    simulate(svc, SimParams(patients=120, seed=21, end=TODAY), progress=False)
    svc.enroll("P-0001", actor="t", effective=TODAY - dt.timedelta(days=30))
    svc.override(
        "P-0001",
        to="augment",
        reason="case_review",
        note="MDT",
        actor="t",
        effective=TODAY - dt.timedelta(days=12),
    )
    svc.close()
    engine.dispose()
    yield url


@pytest.fixture(scope="module")
def svc(db: str) -> Iterator[Services]:
    engine = make_engine(db)
    s = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    yield s
    s.close()
    engine.dispose()


# -- the plain diagram: no database ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "marker"),
    [("trd.dot", "digraph"), ("trd.mmd", "stateDiagram-v2"), ("trd.json", '"definition_id"')],
)
def test_render_from_the_yaml_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, marker: str
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "nowhere" / "pathway.db"
    result = cli("render", str(TRD), "-o", name, PATHWAY_DATABASE_URL=f"sqlite:///{missing}")
    assert result.exit_code == 0, result.stderr
    assert marker in (tmp_path / name).read_text(encoding="utf-8")
    assert f"wrote {name}" in result.stdout
    assert not missing.parent.exists() and not (tmp_path / "pathway.db").exists()


def test_render_svg_has_every_state(tmp_path: Path) -> None:
    needs_dot()
    out = tmp_path / "sub" / "trd.svg"
    result = cli("render", "-o", str(out), "--no-guards")  # default: the shipped TRD
    assert result.exit_code == 0, result.stderr
    svg = out.read_text(encoding="utf-8")
    assert svg.lstrip().startswith("<?xml") or "<svg" in svg
    for label in ("Reassess", "Augmentation", "Maintenance"):
        assert label in svg
    assert "[remission]" not in svg  # --no-guards: triggers only


def test_format_option_and_stdout(tmp_path: Path) -> None:
    result = cli("render", "trd", "-o", "-", "--format", "mermaid")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("---") or "stateDiagram-v2" in result.stdout
    again = cli("render", "trd", "-o", str(tmp_path / "x.txt"), "-f", "dot")
    assert again.exit_code == 0 and "digraph" in (tmp_path / "x.txt").read_text("utf-8")


def test_output_is_deterministic(tmp_path: Path) -> None:
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert cli("render", "-o", str(a)).exit_code == 0
    assert cli("render", "-o", str(b)).exit_code == 0
    assert a.read_bytes() == b.read_bytes()


# -- overlays ----------------------------------------------------------------------------------


def test_render_patient(db: str, svc: Services, tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    result = cli("render", "--patient", "P-0001", "--as-of", AS_OF, "--db", db, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    diagram = json.loads(out.read_text("utf-8"))
    assert diagram["overlay"] == "patient" and diagram["as_of"] == AS_OF
    nodes = {n["id"]: n for n in diagram["nodes"]}
    path = patient_path(svc, "P-0001", as_of=TODAY)
    assert nodes["augment"]["current"] and nodes["augment"]["days"] == path.days["augment"] == 12
    assert nodes["initial_trial"]["days"] == 18
    override = next(e for e in diagram["edges"] if e["style"] == "override")
    assert (override["source"], override["dest"], override["reasons"]) == (
        "initial_trial",
        "augment",
        ["case_review"],
    )


def test_render_patient_svg(db: str, tmp_path: Path) -> None:
    needs_dot()
    out = tmp_path / "p.svg"
    result = cli("render", "--patient", "P-0001", "--db", db, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "case_review" in out.read_text("utf-8")


def test_render_cohort_prints_the_engines_numbers(db: str, svc: Services, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    args = ("render", "--cohort", "--as-of", AS_OF, "--no-suppress", "--db", db, "-o", str(out))
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    diagram = json.loads(out.read_text("utf-8"))
    summary = cohort_summary(svc, as_of=TODAY, definition_id="trd")
    assert diagram["overlay"] == "cohort"
    assert f"Cohort of {summary.total:,} patients" in diagram["subtitle"]
    for node in diagram["nodes"]:
        if node["patients"] is not None:
            assert node["patients"]["value"] == summary.patients.get(node["id"], 0)
    drawn = {
        (e["source"], e["trigger"], e["dest"]): e["traversals"]["value"]
        for e in diagram["edges"]
        if e["traversals"] and e["style"] != "start" and e["traversals"]["value"]
    }
    assert drawn == summary.traversals


def test_render_cohort_suppresses_small_cells(db: str, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    result = cli("render", "--cohort", "--as-of", AS_OF, "--db", db, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    shown = [
        e["traversals"]["display"]
        for e in json.loads(out.read_text("utf-8"))["edges"]
        if e["traversals"]
    ]
    assert "≤10" in shown
    assert all(d in ("≤10", "*", "0") or int(d.replace(",", "")) > 10 for d in shown)
    five = tmp_path / "c5.json"
    assert cli("render", "--cohort", "--threshold", "5", "--db", db, "-o", str(five)).exit_code == 0
    assert "≤5" in five.read_text("utf-8")


def test_render_cohort_filters(db: str, svc: Services, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    since = (TODAY - dt.timedelta(days=90)).isoformat()
    args = ["render", "trd", "--cohort", "--state", "maintenance", "--version", "1.1.0"]
    args += ["--since", since, "--until", AS_OF, "--no-suppress", "--db", db, "-o", str(out)]
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    diagram = json.loads(out.read_text("utf-8"))
    expected = cohort_summary(
        svc,
        as_of=TODAY,
        state="maintenance",
        definition_id="trd",
        definition_version="1.1.0",
        since=TODAY - dt.timedelta(days=90),
    )
    nodes = {n["id"]: n for n in diagram["nodes"]}
    assert nodes["maintenance"]["patients"]["value"] == expected.total
    assert f"moves {since} to {AS_OF}" in diagram["subtitle"]


def test_render_cohort_svg_and_png(db: str, tmp_path: Path) -> None:
    needs_dot()
    for name in ("c.svg", "c.png"):
        out = tmp_path / name
        result = cli("render", "--cohort", "--db", db, "-o", str(out))
        assert result.exit_code == 0, result.stderr
        assert out.stat().st_size > 1000


# -- bad inputs: exit 2, one clear message ---------------------------------------------------

BAD = [
    pytest.param(["render", "-o", "x.svg", "--state", "augment"], "add --cohort", id="filter"),
    pytest.param(["render", "-o", "x.svg", "--threshold", "5"], "add --cohort", id="threshold"),
    pytest.param(["render", "-o", "x.svg", "--as-of", AS_OF], "add --patient", id="as-of"),
    pytest.param(
        ["render", "-o", "x.svg", "--patient", "P-0001", "--cohort"], "not both", id="both"
    ),
    pytest.param(["render", "-o", "x.bmp"], "unknown diagram format", id="suffix"),
    pytest.param(["render", "-o", "x.svg", "-f", "gif"], "unknown diagram format", id="format"),
    pytest.param(["render", "-o", "-"], "--format", id="stdout-no-format"),
    pytest.param(["render", "missing.yaml", "-o", "x.dot"], "not found", id="definition"),
    pytest.param(
        ["render", "--patient", "NOPE-1", "-o", "x.dot", "--db", "{db}"], "NOPE-1", id="patient"
    ),
    pytest.param(
        ["render", "--cohort", "--state", "augmnt", "-o", "x.dot", "--db", "{db}"],
        "did you mean 'augment'",
        id="state",
    ),
    pytest.param(
        ["render", "--cohort", "--since", "2026-13-01", "-o", "x.dot", "--db", "{db}"],
        "YYYY-MM-DD",
        id="date",
    ),
    pytest.param(
        ["render", "--cohort", "--since", AS_OF, "--until", "2026-01-01", "-ox.dot", "--db={db}"],
        "opens on",
        id="window",
    ),
    pytest.param(
        ["render", "--cohort", "-o", "x.dot", "--db", "{missing}"], "init-db", id="no-database"
    ),
    pytest.param(
        ["render", "--patient", "P-0001", "--as-of", "2020-01-01", "-o", "x.dot", "--db", "{db}"],
        "was enrolled on",
        id="before-enrollment",
    ),
    pytest.param(["diff-defs", "trd", "missing.yaml"], "not found", id="diff-missing"),
    pytest.param(["diff-defs", "trd", "trd", "-f", "svg"], "add -o", id="diff-format"),
    pytest.param(["diff-defs", "trd", "trd", "--json", "-o", "-"], "pick one", id="diff-stdout"),
]


@pytest.mark.parametrize(("args", "message"), BAD)
def test_bad_inputs_exit_2(
    args: list[str], message: str, db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = f"sqlite:///{tmp_path / 'missing.db'}"
    result = cli(*(a.format(db=db, missing=missing) for a in args))
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not list(tmp_path.iterdir())  # nothing written


def test_usage_errors_exit_2() -> None:
    assert cli("render").exit_code == 2  # -o is required
    assert cli("render", "-o", "x.svg", "--threshold", "0").exit_code == 2


def test_missing_graphviz_is_explained(db: str, tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    out = tmp_path / "x.svg"
    for args in (["render"], ["render", "--cohort", "--db", db], ["diff-defs", "trd", "trd"]):
        result = cli(*args, "-o", str(out), PATH=str(empty))
        assert result.exit_code == 2
        assert "Graphviz" in result.stderr and "apt-get install graphviz" in result.stderr
        assert not out.exists()
    ok = cli("render", "-o", str(tmp_path / "x.dot"), PATH=str(empty))
    assert ok.exit_code == 0  # dot, mermaid and json need no Graphviz


# -- diff-defs ---------------------------------------------------------------------------------


def renamed(tmp_path: Path) -> Path:
    """The TRD definition with `maintenance` renamed `continuation`."""
    data, _ = read_data(TRD)
    for s in data["states"]:
        if s["id"] == "maintenance":
            s["id"] = "continuation"
    for t in data["transitions"]:
        if t["dest"] == "maintenance":
            t["dest"] = "continuation"
        if isinstance(t["source"], list):
            t["source"] = ["continuation" if s == "maintenance" else s for s in t["source"]]
        elif t["source"] == "maintenance":
            t["source"] = "continuation"
    for name in ("drugs.yaml", "instruments.yaml"):
        shutil.copy(TRD.parent / name, tmp_path / name)
    out = tmp_path / "trd.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), "utf-8")
    return out


def test_diff_of_a_definition_with_itself_is_empty(tmp_path: Path) -> None:
    result = cli("diff-defs", str(TRD), "trd", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {"old": "trd 1.1.0", "new": "trd 1.1.0", "changes": []}
    text = cli("diff-defs", "trd", "trd")
    assert text.exit_code == 0 and "no changes" in text.stdout


def test_a_renamed_state_is_removed_and_added(tmp_path: Path) -> None:
    new = renamed(tmp_path)
    out = tmp_path / "diff.json"
    result = cli("diff-defs", str(TRD), str(new), "--json", "-o", str(out))
    assert result.exit_code == 0, result.stderr
    changes = json.loads(result.stdout)["changes"]
    states = {(c["id"], c["change"]) for c in changes if c["item"] == "state"}
    assert states == {("maintenance", "removed"), ("continuation", "added")}
    diagram = json.loads(out.read_text("utf-8"))
    marks = {n["id"]: n["change"] for n in diagram["nodes"]}
    assert marks["maintenance"] == "removed" and marks["continuation"] == "added"
    text = cli("diff-defs", str(TRD), str(new))
    assert "removed state maintenance" in text.stdout
    assert "added state continuation" in text.stdout


def test_diff_diagram_formats(tmp_path: Path) -> None:
    new = renamed(tmp_path)
    result = cli("diff-defs", "trd", str(new), "-o", "-", "-f", "mermaid")
    assert result.exit_code == 0 and "continuation" in result.stdout
    needs_dot()
    out = tmp_path / "diff.svg"
    result = cli("diff-defs", "trd", str(new), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "continuation" in out.read_text("utf-8")
    assert f"wrote {out}" in result.stdout


@pytest.mark.postgres
def test_render_overlays_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(TODAY), definitions=registry())
    simulate(svc, SimParams(patients=40, seed=5, end=TODAY), progress=False)
    expected = cohort_summary(svc, as_of=TODAY, definition_id="trd")
    pid = svc.history("SIM-000000").patient_id
    svc.close()
    engine.dispose()
    out = tmp_path / "c.json"
    args = ("--as-of", AS_OF, "--db", pg_url)
    result = cli("render", "--cohort", "--no-suppress", *args, "-o", str(out))
    assert result.exit_code == 0, result.stderr
    nodes = json.loads(out.read_text("utf-8"))["nodes"]
    drawn = {n["id"]: n["patients"]["value"] for n in nodes if n["patients"]}
    assert {k: v for k, v in drawn.items() if v} == expected.patients
    result = cli("render", "--patient", pid, *args, "-o", str(tmp_path / "p.mmd"))
    assert result.exit_code == 0, result.stderr
    assert "stateDiagram-v2" in (tmp_path / "p.mmd").read_text("utf-8")
