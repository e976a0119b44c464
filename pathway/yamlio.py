"""Safe YAML/JSON reading that remembers line numbers, and pydantic errors turned into Issues."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from pathway.errors import DefinitionError, Issue, PathwayError

M = TypeVar("M", bound=BaseModel)
Lines = dict[tuple[str | int, ...], int]


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (`no`, `off`, `yes` stay strings)."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def definitions_dir() -> Path:
    """The folder of shipped definitions (inside the wheel, or the checkout)."""
    return Path(__file__).resolve().parent.parent / "definitions"


def _build(
    node: yaml.Node, path: tuple[str | int, ...], lines: Lines, issues: list[Issue], loader: _Loader
) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            key = loader.construct_object(knode, deep=True)
            if key in out:
                issues.append(
                    Issue(
                        loc=format_loc((*path, key)),
                        line=knode.start_mark.line + 1,
                        message=f"duplicate key '{key}'",
                        value=key,
                    )
                )
            out[key] = _build(vnode, (*path, key), lines, issues, loader)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, (*path, i), lines, issues, loader) for i, v in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def parse_text(text: str, *, name: str = "<input>") -> tuple[Any, Lines]:
    """Parse YAML (a superset of JSON) safely; return the data and a path → line map."""
    lines: Lines = {}
    issues: list[Issue] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = None if node is None else _build(node, (), lines, issues, loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            [Issue(loc="", file=name, line=line, message=f"malformed YAML: {problem}")],
            source=name,
        ) from None
    finally:
        loader.dispose()
    if issues:
        raise DefinitionError([i.model_copy(update={"file": name}) for i in issues], source=name)
    return data, lines


def read_data(path: Path | str) -> tuple[Any, Lines]:
    """Read a JSON or YAML file ('-' is stdin); JSON is parsed strictly when the suffix is .json."""
    import sys

    p = str(path)
    if p == "-":
        text, name = sys.stdin.read(), "<stdin>"
    else:
        try:
            text = Path(p).read_text(encoding="utf-8")
        except OSError as exc:
            raise PathwayError(f"cannot read {p}: {exc.strerror or exc}") from None
        name = Path(p).name
    if p.endswith(".json"):
        try:
            return json.loads(text), {}
        except json.JSONDecodeError as exc:
            raise DefinitionError(
                [Issue(loc="", file=name, line=exc.lineno, message=f"malformed JSON: {exc.msg}")],
                source=name,
            ) from None
    return parse_text(text, name=name)


def format_loc(loc: Iterable[str | int]) -> str:
    """('trials', 1, 'doses', 0, 'mg_per_day') → 'trials[1].doses[0].mg_per_day'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def data_path(data: Any, loc: Iterable[str | int]) -> tuple[str | int, ...]:
    """Keep only the parts of a pydantic loc that walk the input (drops union tags).

    A string part missing from the input is a key only when it ends the loc (a missing field, or
    a defaulted one that failed validation); in the middle it is a union tag (`outcome` in
    `guard.outcome.in`): nothing can be nested under a key that is not there.
    """
    parts = list(loc)
    path: list[str | int] = []
    cur = data
    for n, part in enumerate(parts):
        if isinstance(cur, dict):
            inside = part in cur
        else:
            inside = isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur)
        if inside:
            cur = cur[part]
            path.append(part)
        elif (
            isinstance(cur, dict)
            and isinstance(part, str)
            and not path_tag(part)
            and n == len(parts) - 1
        ):
            path.append(part)  # a missing key: name it
            cur = None
        # else: a union tag or function-validator name; skip it
    return tuple(path)


def path_tag(part: str) -> bool:
    """pydantic loc parts that are union/validator tags, not keys of the input."""
    return part.startswith(("function-", "tagged-union", "union[")) or "[" in part


def line_for(lines: Lines, path: tuple[str | int, ...]) -> int | None:
    """Line of the deepest known prefix of `path`."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


Problem = tuple[tuple[str | int, ...], str, Any]


def located(problems: list[Problem]) -> PydanticCustomError:
    """One validation error carrying several problems, each at its own place under the field
    being validated: `(sub-path, message, offending value)`. `issues_from` splits it up again,
    so a rule that compares several fields reports each violation where it is."""
    summary = "; ".join(f"{format_loc(sub) + ': ' if sub else ''}{msg}" for sub, msg, _ in problems)
    return PydanticCustomError("located", "{summary}", {"summary": summary, "problems": problems})


def issues_from(
    exc: ValidationError,
    data: Any,
    *,
    lines: Lines | None = None,
    file: str | None = None,
    vocabulary: Iterable[str] = (),
) -> list[Issue]:
    """One Issue per pydantic error, located in the input by dotted path and line.

    `vocabulary` (the field names the input may use) gives unknown fields a did-you-mean.
    """
    out: list[Issue] = []

    def add(path: tuple[str | int, ...], msg: str, value: Any) -> None:
        out.append(
            Issue(
                loc=format_loc(path),
                message=msg,
                value=_short(value),
                file=file,
                line=line_for(lines, path) if lines else None,
            )
        )

    for err in exc.errors(include_url=False):
        path = data_path(data, err["loc"])
        msg = err["msg"]
        ctx = err.get("ctx") or {}
        for prefix in ("Value error, ", "Assertion failed, "):
            if msg.startswith(prefix):
                msg = msg[len(prefix) :]
        value = err.get("input")
        kind = err["type"]
        if kind == "located":
            for sub, problem, bad in ctx["problems"]:
                add((*path, *sub), problem, bad)
            continue
        if kind == "missing":
            value = None
        elif kind == "extra_forbidden" and path:
            key = str(path[-1])  # a name used elsewhere in the format is no suggestion here
            msg = f"unknown field '{key}'{did_you_mean(key, set(vocabulary) - {key})}"
        elif kind == "literal_error":
            expected = re.findall(r"'([^']+)'", str(ctx.get("expected", "")))
            msg += did_you_mean(str(value), expected)
        elif kind in ("union_tag_invalid", "union_tag_not_found") or "discriminator" in ctx:
            # name the discriminating key itself: `guard.pred`, `screens[0].instrument`
            key = str(ctx.get("discriminator", "")).strip("'")
            if isinstance(value, dict) and key and not path_tag(key):
                path, value = (*path, key), value.get(key)
            if kind == "union_tag_invalid":
                tag = str(ctx.get("tag", value))
                expected = re.findall(r"'([^']+)'", str(ctx.get("expected_tags", "")))
                what = {"pred": "predicate"}.get(key, key or "tag")
                msg = f"unknown {what} '{tag}'{did_you_mean(tag, expected)}"
            elif kind == "union_tag_not_found":
                msg = f"missing '{key}'"
        add(path, msg, value)
    return out


def field_names(model: type[BaseModel]) -> frozenset[str]:
    """Every field name and alias of a model and of the models nested in it."""
    seen: set[type[BaseModel]] = set()
    names: set[str] = set()

    def walk(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.add(tp)
            for name, info in tp.model_fields.items():
                names.add(info.alias or name)
                walk(info.annotation)
            return
        for arg in getattr(tp, "__args__", ()) or ():
            walk(arg)
        origin = getattr(tp, "__origin__", None)
        if origin is not None and origin is not tp:
            walk(origin)
        for meta in getattr(tp, "__metadata__", ()) or ():
            walk(meta)

    walk(model)
    return frozenset(names)


def _short(value: Any) -> Any:
    """The offending value, unless it is a whole sub-document (empty ones are kept)."""
    if isinstance(value, dict | list) and value:
        return None
    return value


def load_model(model: type[M], path: Path | str) -> M:
    """Read a YAML/JSON file into `model`, raising DefinitionError with file:line issues."""
    data, lines = read_data(path)
    name = Path(str(path)).name
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues = issues_from(exc, data, lines=lines, file=name, vocabulary=field_names(model))
        raise DefinitionError(issues, source=name) from None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """' (did you mean 'x'?)' for the closest choice, or ''."""
    import difflib

    hits = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{hits[0]}'?)" if hits else ""
