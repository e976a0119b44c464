"""Load a definition: safe YAML, pydantic validation, graph checks; every problem reported at once.

Each problem has file:line, a dotted path, a message and, where possible, a did-you-mean:
`trd.yaml:42 transitions[3].dest: unknown state 'augmnt' (did you mean 'augment'?)`.
"""

from __future__ import annotations

from collections import deque
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pathway.catalog import load_catalog
from pathway.definition import Definition
from pathway.errors import DefinitionError, Issue
from pathway.parameters import Parameters
from pathway.yamlio import (
    Lines,
    definitions_dir,
    did_you_mean,
    field_names,
    issues_from,
    line_for,
    read_data,
)

_VOCABULARY = field_names(Definition)


def resolve(name_or_path: str | Path | None) -> Path:
    """'trd' → the shipped definitions/trd.yaml; a path stays a path."""
    if name_or_path is None:
        return definitions_dir() / "trd.yaml"
    p = Path(name_or_path)
    if p.suffix or p.exists():
        return p
    return definitions_dir() / f"{p}.yaml"


def load_definition(name_or_path: str | Path | None = None) -> Definition:
    """Read and check a definition (default: the shipped TRD pathway); cached per file."""
    path = resolve(name_or_path).resolve()
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        raise DefinitionError(
            [Issue(loc="", file=str(name_or_path), message="definition file not found")],
            source=str(name_or_path),
        ) from None
    return _load(path, mtime)


@lru_cache(maxsize=32)
def _load(path: Path, _mtime: int) -> Definition:
    data, lines = read_data(path, aliases=True)
    name = path.name
    issues: list[Issue] = []
    definition: Definition | None = None
    if not isinstance(data, dict):
        raise DefinitionError(
            [Issue(loc="", file=name, line=1, message="a definition must be a mapping")],
            source=name,
        )
    try:
        definition = Definition.model_validate(data)
    except ValidationError as exc:
        found = issues_from(exc, data, lines=lines, file=name, vocabulary=_VOCABULARY)
        issues += [_hint(i, data) for i in found]
    issues += [i.model_copy(update={"file": name}) for i in check_graph(data, lines)]
    if definition is not None:
        files = {
            "drugs": definition.catalog_files.drugs,
            "instruments": definition.catalog_files.instruments,
        }
        missing = {k: rel for k, rel in files.items() if not (path.parent / rel).is_file()}
        for key, rel in missing.items():
            issues.append(
                Issue(
                    loc=f"catalog.{key}",
                    file=name,
                    value=rel,
                    line=line_for(lines, ("catalog", key)),
                    message=f"catalog file not found: {path.parent / rel}",
                )
            )
        if not missing:
            try:
                definition._catalog = load_catalog(
                    path.parent / files["drugs"], path.parent / files["instruments"]
                )
            except DefinitionError as exc:
                issues += exc.issues
    if issues:
        issues.sort(key=lambda i: (i.file != name, i.line or 0, i.loc))
        raise DefinitionError(_dedupe(issues), source=name)
    assert definition is not None  # for mypy: issues is empty only when validation passed
    return definition


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str]] = set()
    out = []
    for i in issues:
        if (i.loc, i.message) not in seen:
            seen.add((i.loc, i.message))
            out.append(i)
    return out


def _hint(issue: Issue, data: dict[str, Any]) -> Issue:
    """Add did-you-mean to unknown or missing parameters."""
    parts = issue.loc.split(".")
    if len(parts) == 2 and parts[0] == "parameters":
        given = data.get("parameters") or {}
        if issue.message.startswith("unknown field"):
            known = [k for k in Parameters.model_fields if k not in given]
            msg = f"unknown parameter '{parts[1]}'{did_you_mean(parts[1], known)}"
            return issue.model_copy(update={"message": msg})
        if issue.message == "Field required":
            return issue.model_copy(update={"message": f"missing parameter '{parts[1]}'"})
    return issue


def check_graph(data: dict[str, Any], lines: Lines) -> list[Issue]:
    """Graph checks on the raw data, so they run even when other fields are invalid."""
    issues: list[Issue] = []

    def add(path: tuple[str | int, ...], message: str, value: Any = None) -> None:
        from pathway.yamlio import format_loc

        issues.append(
            Issue(loc=format_loc(path), line=line_for(lines, path), message=message, value=value)
        )

    raw_states = _list(data.get("states"))
    states: dict[str, dict[str, Any]] = {}
    for i, s in enumerate(raw_states):
        if isinstance(s, dict) and isinstance(s.get("id"), str):
            if s["id"] in states:
                add(("states", i, "id"), f"duplicate state '{s['id']}'")
            states[s["id"]] = s
    ids = list(states)
    initial = [sid for sid, s in states.items() if s.get("initial") is True]
    if states and not initial:
        add(("states",), "no initial state: mark exactly one state with `initial: true`")
    elif len(initial) > 1:
        add(
            ("states",),
            f"{len(initial)} initial states ({', '.join(initial)}); exactly one is allowed",
        )
    phases = [str(p.get("id")) for p in _list(data.get("phases")) if isinstance(p, dict)]
    for i, s in enumerate(raw_states):
        if isinstance(s, dict) and s.get("phase") is not None and s["phase"] not in phases:
            add(
                ("states", i, "phase"),
                f"unknown phase '{s['phase']}'{did_you_mean(str(s['phase']), phases)}",
            )

    def known(path: tuple[str | int, ...], sid: Any) -> bool:
        if sid in states:
            return True
        add(path, f"unknown state '{sid}'{did_you_mean(str(sid), ids)}", sid)
        return False

    edges: dict[str, set[str]] = {sid: set() for sid in states}
    triggers: set[str] = set()
    leaving: dict[str, set[str]] = {sid: set() for sid in states}  # state → its triggers
    raw_ts = _list(data.get("transitions"))
    for i, t in enumerate(raw_ts):
        if not isinstance(t, dict):
            continue
        triggers.add(str(t.get("trigger")))
        dest = t.get("dest")  # a missing dest is reported by the model
        dest_ok = isinstance(dest, str) and known(("transitions", i, "dest"), dest)
        for j, ex in enumerate(_list(t.get("exclude"))):
            known(("transitions", i, "exclude", j), ex)
        src = t.get("source")
        if src == "*":
            sources = [
                sid
                for sid, s in states.items()
                if s.get("kind") != "final" and sid not in _list(t.get("exclude"))
            ]
        elif isinstance(src, list):
            sources = [s for j, s in enumerate(src) if known(("transitions", i, "source", j), s)]
        else:
            sources = []
        for s in sources:
            leaving[s].add(str(t.get("trigger")))
            if dest_ok:
                edges[s].add(str(dest))
    rec = data.get("recommendation")
    if isinstance(rec, dict):
        decision = rec.get("state")
        if "state" in rec:
            known(("recommendation", "state"), decision)
        for j, step in enumerate(_list(rec.get("order"))):
            trig = step.get("trigger") if isinstance(step, dict) else None
            where = ("recommendation", "order", j, "trigger")
            if trig is not None and trig not in triggers:
                add(
                    where,
                    f"unknown trigger '{trig}'{did_you_mean(str(trig), sorted(triggers))}",
                    trig,
                )
            elif trig is not None and decision in leaving and trig not in leaving[decision]:
                add(where, f"trigger '{trig}' does not leave the decision state '{decision}'", trig)
    if len(initial) == 1:
        seen = {initial[0]}
        todo = deque(initial)
        while todo:
            for nxt in sorted(edges[todo.popleft()]):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for i, s in enumerate(raw_states):
            if isinstance(s, dict) and s.get("id") in states and s["id"] not in seen:
                add(
                    ("states", i, "id"),
                    f"state '{s['id']}' is unreachable from the initial state '{initial[0]}'",
                )
    for i, s in enumerate(raw_states):
        if (
            isinstance(s, dict)
            and s.get("id") in edges
            and s.get("kind") != "final"
            and not edges[s["id"]]
        ):
            add(
                ("states", i, "id"),
                f"state '{s['id']}' is a dead end: it is not final and no transition leaves it",
            )
    return issues


def _list(value: Any) -> list[Any]:
    """A list from the raw data, or [] when it is missing or not a list (reported elsewhere)."""
    return value if isinstance(value, list) else []
