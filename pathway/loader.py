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
        outside = {k: rel for k, rel in files.items() if not _inside(path, rel)}
        for key in outside:
            issues.append(
                Issue(
                    loc=f"catalog.{key}",
                    file=name,
                    line=line_for(lines, ("catalog", key)),
                    message="a catalog path must stay in the definition's folder (or name the "
                    "shipped catalog); this one leaves it and is not read",
                )
            )
        files = {k: rel for k, rel in files.items() if k not in outside}
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
        if not missing and not outside:
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
    definition.compiled  # noqa: B018 - compiled once, here, with its catalog
    return definition


def _inside(definition: Path, rel: str) -> bool:
    """Whether a catalog path stays in the definition's folder (or the shipped definitions)."""
    target = (definition.parent / rel).resolve()
    return any(
        target.is_relative_to(folder)
        for folder in (definition.parent.resolve(), definitions_dir().resolve())
    )


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
    issues += check_safety(data, lines, states, raw_states, raw_ts, edges)
    return issues


def check_safety(
    data: dict[str, Any],
    lines: Lines,
    states: dict[str, dict[str, Any]],
    raw_states: list[Any],
    raw_ts: list[Any],
    edges: dict[str, set[str]],
) -> list[Issue]:
    """What makes a definition unsafe to run: ambiguous transitions, transitions out of final
    states, states with no way out to a final or continuing state, guards nested too deep."""
    from pathway.yamlio import format_loc

    issues: list[Issue] = []

    def add(path: tuple[str | int, ...], message: str, value: Any = None) -> None:
        issues.append(
            Issue(loc=format_loc(path), line=line_for(lines, path), message=message, value=value)
        )

    final = {sid for sid, s in states.items() if s.get("kind") == "final"}
    by_key: dict[tuple[str, str], list[int]] = {}  # (state, trigger) → transition indexes
    for i, t in enumerate(raw_ts):
        if not isinstance(t, dict):
            continue
        src = t.get("source")
        for j, sid in enumerate(src if isinstance(src, list) else []):
            if sid in final:
                add(("transitions", i, "source", j), f"a transition leaves the final state '{sid}'")
        if src == "*":
            sources = [x for x in states if x not in final and x not in _list(t.get("exclude"))]
        else:
            sources = [x for x in _list(src) if isinstance(x, str) and x in states]
        for sid in sources:
            by_key.setdefault((sid, str(t.get("trigger"))), []).append(i)
        depth = guard_depth(t.get("guard"))
        if depth > MAX_GUARD_DEPTH:
            add(
                ("transitions", i, "guard"),
                f"guard nested {depth} deep; at most {MAX_GUARD_DEPTH} levels are allowed",
            )
    rec = data.get("recommendation")
    for j, step in enumerate(_list(rec.get("order")) if isinstance(rec, dict) else []):
        if isinstance(step, dict) and guard_depth(step.get("when")) > MAX_GUARD_DEPTH:
            add(
                ("recommendation", "order", j, "when"),
                f"guard nested deeper than {MAX_GUARD_DEPTH} levels",
            )
    for (sid, trigger), idx in by_key.items():
        for a_pos, a in enumerate(idx):
            for b in idx[a_pos + 1 :]:
                ta, tb = raw_ts[a], raw_ts[b]
                if ta.get("dest") == tb.get("dest"):
                    continue
                if not exclusive(ta.get("guard"), tb.get("guard")):
                    add(
                        ("transitions", b, "trigger"),
                        f"'{trigger}' from '{sid}' goes to '{ta.get('dest')}' "
                        f"(transitions[{a}]) and to '{tb.get('dest')}' (transitions[{b}]) and "
                        "their guards are not provably exclusive",
                    )
    # every state must be able to reach a final or continuing state
    good = {sid for sid, s in states.items() if s.get("kind") in ("final", "continuing")}
    if good:
        back: dict[str, set[str]] = {sid: set() for sid in states}
        for src, dests in edges.items():
            for d in dests:
                back.setdefault(d, set()).add(src)
        todo = deque(good)
        while todo:
            for prev in back.get(todo.popleft(), ()):
                if prev not in good:
                    good.add(prev)
                    todo.append(prev)
        for i, s in enumerate(raw_states):
            sid = s.get("id") if isinstance(s, dict) else None
            if sid in states and sid not in good and edges.get(sid):
                add(
                    ("states", i, "id"),
                    f"from state '{sid}' no final or continuing state can be reached",
                )
    return issues


MAX_GUARD_DEPTH = 12  # levels of all/any/not; the shipped pathway needs 4


def guard_depth(guard: Any) -> int:
    """Nesting depth of a raw guard (a predicate alone is 1); iterative."""
    deepest = 0
    todo: list[tuple[Any, int]] = [(guard, 1)]
    while todo:
        g, d = todo.pop()
        if not isinstance(g, dict):
            continue
        deepest = max(deepest, d)
        for key in ("all", "any"):
            todo += [(x, d + 1) for x in _list(g.get(key))]
        if "not" in g:
            todo.append((g["not"], d + 1))
    return deepest


def exclusive(a: Any, b: Any) -> bool:
    """Whether two raw guards can never both be true (a sufficient test, kept simple):

    - one is `{not: X}` and the other is X; or
    - some conjunct of each (a guard's conjuncts: the items of its `all`, else the guard itself)
      is the same predicate with the same parameters but one, whose values are disjoint
      (`{pred: current_step, kind: [neurostimulation]}` and `{..., kind: [rapid_acting]}`),
      or one conjunct is `{not: …}` of the other.

    Predicates are three-valued and only `true` enables a transition, so disjoint values of one
    parameter cannot both be true. Anything else counts as possibly overlapping.
    """
    if (isinstance(a, dict) and a.get("not") == b) or (isinstance(b, dict) and b.get("not") == a):
        return a is not None and b is not None
    return any(_disjoint(x, y) for x in _conjuncts(a) for y in _conjuncts(b))


def _conjuncts(g: Any) -> list[Any]:
    if isinstance(g, dict) and isinstance(g.get("all"), list):
        return list(g["all"])
    return [g]


def _disjoint(a: Any, b: Any) -> bool:
    if not isinstance(a, dict) or not isinstance(b, dict):
        return False
    if a.get("not") == b or b.get("not") == a:
        return True
    if "pred" not in a or a.get("pred") != b.get("pred") or set(a) != set(b):
        return False
    differ = [k for k in a if a[k] != b[k]]
    if len(differ) != 1:
        return False

    def values(v: Any) -> set[str]:
        return {repr(x) for x in (v if isinstance(v, list) else [v])}

    key = differ[0]
    return not values(a[key]) & values(b[key])


def _list(value: Any) -> list[Any]:
    """A list from the raw data, or [] when it is missing or not a list (reported elsewhere)."""
    return value if isinstance(value, list) else []
