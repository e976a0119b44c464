"""Outputs that people diff are the same bytes whatever the environment.

Each command runs in a subprocess (`engine.cli.main`, as the `pathway` script does) under two
contrasting environments: hash seed 0 or 4242; 10 hours behind UTC or 14 hours ahead (POSIX time
zones, no tz database needed), so "today" is another day in each; a UTF-8 locale or `LC_ALL=C`
with `PYTHONUTF8=0` (a non-UTF-8 stdout); 200 or 40 columns; stdout to a pipe or to a file. Each
must exit 0 and give the same stdout and the same bytes in every file it writes. Dates are
pinned with the commands' own options (`--as-of`, `--period`, `--since`/`--until`, `--end`): a
different date is a legitimate difference. Last, the text reports on a 40-column terminal fold
their tables and panels: no cell is cut to "…".
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EX04 = str(ROOT / "examples" / "04-two-adequate-failures.json")
DAY = dt.date(2026, 6, 1)
AS_OF = DAY.isoformat()
MAIN = "from engine.cli import main; main()"
ENVS = {
    "behind": {"PYTHONHASHSEED": "0", "TZ": "HST10", "LC_ALL": "C.UTF-8", "COLUMNS": "200"},
    "ahead": {
        "PYTHONHASHSEED": "4242",
        "TZ": "LINT-14",
        "LC_ALL": "C",
        "PYTHONUTF8": "0",
        "COLUMNS": "40",
    },
}
HAS_DOT = shutil.which("dot") is not None


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without what the test varies or what would leak into it."""
    skip = ("LC_", "PYTHON", "PATHWAY_")
    varied = {"LANG", "LANGUAGE", "TZ", "COLUMNS", "LINES"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(skip) and k not in varied}
    return {**base, **extra}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small clinic on DAY: 40 simulated patients, EX-04 enrolled from its record and then
    overridden, and four access audit rows on either side of midnight UTC."""
    import pathway
    from engine.clock import FixedClock
    from engine.definitions import DefinitionRegistry
    from engine.services import Services
    from engine.simulator import SimParams, simulate
    from engine.store.db import init_db, make_engine
    from engine.store.tables import access_audit_table
    from engine.store.uow import SqlUnitOfWork

    url = f"sqlite:///{tmp_path_factory.mktemp('determinism') / 'clinic.db'}"
    engine = make_engine(url)
    init_db(engine)
    registry = DefinitionRegistry(["trd"], use_env=False)
    svc = Services(SqlUnitOfWork(engine), clock=FixedClock(DAY), definitions=registry)
    simulate(svc, SimParams(patients=40, seed=7, end=DAY), progress=False)
    enrolled = svc.enroll("EX-04", actor="dr-a", record=pathway.load_record(EX04))
    svc.override(
        "EX-04",
        to="augment",
        reason="case_review",
        note="MDT decision → augment (PHQ-9 ≥ 10)",
        actor="dr-b",
        expect_version=enrolled.version,
    )
    svc.close()
    at = dt.datetime.combine(DAY, dt.time(), dt.UTC)
    rows = [
        (at - dt.timedelta(minutes=30), "alice", "clinician", "patient", "EX-04", None, "ok"),
        (at + dt.timedelta(minutes=30), "bob", "quality", "quality", None, '{"s": "x"}', "ok"),
        (at + dt.timedelta(hours=9), "alice", "clinician", "advance", "EX-04", None, "stale"),
        (at + dt.timedelta(hours=23), "(anonymous)", "", "login", None, None, "refused"),
    ]
    names = ("at", "actor", "role", "action", "patient_id", "cohort", "outcome")
    with engine.begin() as conn:
        conn.execute(
            access_audit_table().insert(), [dict(zip(names, r, strict=True)) for r in rows]
        )
    engine.dispose()
    yield url


def commands(db: str) -> dict[str, list[str]]:
    """name → arguments; `{out}` is the run's own folder (files there are compared too)."""
    period = f"{(DAY - dt.timedelta(days=364)).isoformat()}:{AS_OF}"
    window = ["--since", (DAY - dt.timedelta(days=120)).isoformat(), "--until", AS_OF]
    d = ["--db", db]
    cmds = {
        "render-def-dot": ["render", "definitions/trd.yaml", "-o", "{out}/d.dot"],
        "render-def-mermaid": ["render", "definitions/trd.yaml", "-o", "-", "-f", "mermaid"],
        "render-patient-json": [
            "render",
            "--patient",
            "EX-04",
            "--as-of",
            AS_OF,
            *d,
            "-o",
            "-",
            "-f",
            "json",
        ],
        "render-cohort-json": ["render", "--cohort", "--as-of", AS_OF, *d, "-o", "{out}/c.json"],
        "render-window-dot": ["render", "--cohort", *window, *d, "-o", "{out}/w.dot"],
        "assess-json": ["assess", EX04, "--as-of", AS_OF, "--json"],
        "assess-text": ["assess", EX04, "--as-of", AS_OF],
        "status-json": ["status", "EX-04", "--as-of", AS_OF, *d, "--json"],
        "status-text": ["status", "EX-04", "--as-of", AS_OF, *d],
        "history-text": ["history", "EX-04", *d],
        "worklist-json": ["worklist", "--as-of", AS_OF, *d, "--json"],
        "board-text": ["board", "--as-of", AS_OF, *d],
        "fhir-export": ["fhir", "export", "EX-04", "--as-of", AS_OF, *d],
        "fhir-plandefinition": ["fhir", "plandefinition"],
        "fhir-audit": ["fhir", "audit", *d, "--since", AS_OF, "--until", AS_OF],
        "measure-json": ["measure", "CMS159", *d, "--period", period, "--json"],
        "measure-summary": [
            "measure",
            "CMS128",
            *d,
            "--period",
            period,
            "--measurereport",
            "summary",
        ],
        "deviations-json": ["deviations", *window, *d, "--json"],
        "simulate-json": [
            *("simulate", "--patients", "15", "--seed", "3", "--end", AS_OF),
            *("--db", "sqlite:///{out}/s.db", "--json"),
        ],
        "simulate-text": [
            *("simulate", "--patients", "15", "--seed", "3", "--end", AS_OF),
            *("--db", "sqlite:///{out}/s.db"),
        ],
        "diff-defs-json": [
            "diff-defs",
            "definitions/trd-1.0.0.yaml",
            "definitions/trd.yaml",
            "--json",
        ],
        "validate-strict": ["validate", "--strict"],
        "schema-definition": ["schema", "definition"],
    }
    if HAS_DOT:
        cohort = ["render", "--cohort", "--as-of", AS_OF, *d]
        cmds["render-cohort-svg"] = [*cohort, "-o", "{out}/c.svg"]
        cmds["render-cohort-pdf"] = [*cohort, "-o", "{out}/c.pdf"]
    return cmds


def run(args: list[str], out: Path, env: dict[str, str], *, to_file: bool) -> dict[str, bytes]:
    """Run one command; its exit code, stdout and written files, the run's folder named `{out}`."""
    out.mkdir(parents=True)
    argv = [a.replace("{out}", str(out)) for a in args]
    cmd = [sys.executable, "-c", MAIN, *argv]
    if to_file:
        with open(out / "stdout", "wb") as fh:
            done = subprocess.run(cmd, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.PIPE)
        stdout = (out / "stdout").read_bytes()
        (out / "stdout").unlink()
    else:
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True)
        stdout = done.stdout
    assert done.returncode == 0, f"{args}: {done.stderr.decode(errors='replace')}"
    assert stdout or any(out.iterdir()), f"{args}: no output"
    got = {"stdout": stdout.replace(str(out).encode(), b"{out}")}
    for f in sorted(out.iterdir()):
        if f.suffix not in (".db", ".db-wal", ".db-shm"):
            got[f.name] = f.read_bytes().replace(str(out).encode(), b"{out}")
    return got


def test_outputs_are_the_same_bytes_in_contrasting_environments(db: str, tmp_path: Path) -> None:
    cmds = commands(db)

    def one(job: tuple[str, str]) -> dict[str, bytes]:
        name, env = job  # "ahead" also writes its stdout to a file, "behind" to a pipe
        return run(
            cmds[name], tmp_path / env / name, clean_env(**ENVS[env]), to_file=env == "ahead"
        )

    jobs = [(name, env) for name in cmds for env in ENVS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(jobs, pool.map(one, jobs), strict=True))
    differ = [name for name in cmds if results[(name, "behind")] != results[(name, "ahead")]]
    assert differ == []


@pytest.mark.skipif(not HAS_DOT, reason="the Graphviz `dot` program is not installed")
def test_a_pdf_is_the_same_bytes_in_utc_and_elsewhere(tmp_path: Path) -> None:
    # cairo stamps the date in the local zone: `Z` in UTC is shorter than `+14'00`, and the
    # stamp is fixed in place (the PDF's offsets must hold), so only a UTC stamp is the same
    pdfs = [
        run(
            ["render", "definitions/trd.yaml", "-o", "{out}/d.pdf"],
            tmp_path / tz,
            env,
            to_file=False,
        )
        for tz, env in (("utc", clean_env(TZ="UTC0")), ("ahead", clean_env(**ENVS["ahead"])))
    ]
    assert pdfs[0] == pdfs[1]


@pytest.mark.parametrize("fmt", [["--json"], []], ids=["json", "text"])
def test_simulate_prints_no_timing_on_stdout(tmp_path: Path, fmt: list[str]) -> None:
    args = ["simulate", "--patients", "5", "--seed", "1", "--end", AS_OF, *fmt]
    first, second = (
        run(
            [*args, "--db", f"sqlite:///{tmp_path / n}.db"],
            tmp_path / n,
            clean_env(),
            to_file=False,
        )
        for n in ("a", "b")
    )
    assert b'"seconds"' not in first["stdout"] and b"per_second" not in first["stdout"]
    assert b"events/s" not in first["stdout"]
    assert first == second


def test_a_non_utf8_stdout_gets_utf8_not_a_crash(tmp_path: Path) -> None:
    env = clean_env(LC_ALL="C", PYTHONUTF8="0", PYTHONIOENCODING="latin-1")
    got = run(["assess", EX04, "--as-of", AS_OF], tmp_path / "latin1", env, to_file=False)
    assert "≥".encode() in got["stdout"]


# -- a narrow terminal: tables and panels fold, nothing is cut to "…" ------------------------


def on_terminal(args: list[str], *, columns: int) -> str:
    """What a command prints on a pseudo-terminal `columns` wide."""
    pty = pytest.importorskip("pty")
    import fcntl
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = clean_env(COLUMNS=str(columns), LINES="50", TERM="xterm", LC_ALL="C.UTF-8")
    proc = subprocess.Popen(
        [sys.executable, "-c", MAIN, *args], cwd=ROOT, env=env, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    try:
        while select.select([leader], [], [], 60)[0]:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the command ended
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
        assert proc.wait(timeout=60) == 0
    return b"".join(chunks).decode()


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["assess", EX04, "--as-of", AS_OF], id="assess"),
        pytest.param(["status", "EX-04", "--as-of", AS_OF], id="status"),
        pytest.param(["board", "--as-of", AS_OF], id="board"),
    ],
)
def test_a_narrow_terminal_folds_text_and_cuts_none(db: str, args: list[str]) -> None:
    if sys.platform == "win32":
        pytest.skip("needs a POSIX pseudo-terminal")
    db_args = [] if args[0] == "assess" else ["--db", db]
    text = on_terminal([*args, *db_args], columns=40)
    assert "…" not in text
    if args[0] == "assess":  # the Facts panel wraps its lines instead of cropping them
        flat = "".join(text.replace("│", " ").split())
        assert "Thase–RushII" in flat
