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

from pathway.errors import DefinitionError, Issue, PathwayError, excerpt_text

M = TypeVar("M", bound=BaseModel)
Lines = dict[tuple[str | int, ...], int]


# Limits of every file read (records, facts, definitions, catalogs): a hostile or broken file is
# refused with exit 2 instead of eating memory or time. Documented in the README ("Input limits").
MAX_FILE_BYTES = 32 * 1024 * 1024  # a whole file (an import file may hold many records)
MAX_DEPTH = 32  # nesting of mappings and lists (a record needs 4)
MAX_ITEMS = 100_000  # entries of one list or mapping
MAX_STRING = 100_000  # characters of one string (fields have their own, smaller limits)
MAX_INT_DIGITS = 20  # digits of an integer (int64 has 19)
MAX_NODES = 1_000_000  # values in a definition after its YAML aliases are expanded


def _without_yes_no(cls: type[Any]) -> None:
    """Only true/false are booleans (`no`, `off`, `yes` stay strings)."""
    cls.yaml_implicit_resolvers = {
        k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:bool"]
        for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    cls.add_implicit_resolver(
        "tag:yaml.org,2002:bool",
        re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"),
    )


class _Loader(yaml.SafeLoader):
    """SafeLoader where only true/false are booleans (`no`, `off`, `yes` stay strings)."""


_without_yes_no(_Loader)
if getattr(yaml, "__with_libyaml__", False):
    # libyaml composes the node graph in C, keeps line numbers and refuses nesting deeper than
    # its own limit instead of recursing without end; an alias is the same node object again.

    class _CLoader(yaml.CSafeLoader):
        """The C SafeLoader with the same booleans as `_Loader`."""

    _without_yes_no(_CLoader)
    _FAST: type[Any] = _CLoader
else:  # pragma: no cover - PyYAML without libyaml
    _FAST = _Loader


def definitions_dir() -> Path:
    """The folder of shipped definitions (inside the wheel, or the checkout)."""
    return Path(__file__).resolve().parent.parent / "definitions"


class _Budget:
    """What one document may still spend: values built (aliases count each time they expand)."""

    def __init__(self, aliases: bool) -> None:
        self.aliases = aliases
        self.nodes = 0
        self.seen: set[int] = set()


class _Refused(Exception):
    def __init__(self, issue: Issue) -> None:
        self.issue = issue


_INT_TAG = "tag:yaml.org,2002:int"


def _build(
    node: yaml.Node,
    path: tuple[str | int, ...],
    lines: Lines,
    issues: list[Issue],
    loader: Any,
    budget: _Budget,
) -> Any:
    line = node.start_mark.line + 1
    lines.setdefault(path, line)
    where = format_loc(path)
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        if id(node) in budget.seen and not budget.aliases:
            raise _Refused(Issue(loc=where, line=line, message="YAML aliases are not allowed here"))
        budget.seen.add(id(node))
        if len(path) >= MAX_DEPTH:
            raise _Refused(Issue(loc=where, line=line, message=f"nested deeper than {MAX_DEPTH}"))
        if len(node.value) > MAX_ITEMS:
            raise _Refused(Issue(loc=where, line=line, message=f"more than {MAX_ITEMS:,} entries"))
    budget.nodes += 1
    if budget.nodes > MAX_NODES:
        raise _Refused(
            Issue(loc=where, line=line, message=f"more than {MAX_NODES:,} values (YAML aliases?)")
        )
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                raise _Refused(
                    Issue(loc=where, line=knode.start_mark.line + 1, message="keys must be text")
                )
            key = _scalar(knode, path, loader)
            if key in out:
                issues.append(
                    Issue(
                        loc=format_loc((*path, key)),
                        line=knode.start_mark.line + 1,
                        message=f"duplicate key '{excerpt_text(str(key))}'",
                    )
                )
            out[key] = _build(vnode, (*path, key), lines, issues, loader, budget)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _build(v, (*path, i), lines, issues, loader, budget) for i, v in enumerate(node.value)
        ]
    return _scalar(node, path, loader)


def _scalar(node: yaml.Node, path: tuple[str | int, ...], loader: Any) -> Any:
    text = node.value
    if isinstance(text, str) and len(text) > MAX_STRING:
        raise _Refused(
            Issue(
                loc=format_loc(path),
                line=node.start_mark.line + 1,
                message=f"a value longer than {MAX_STRING:,} characters",
            )
        )
    if node.tag == _INT_TAG and sum(c.isdigit() for c in text) > MAX_INT_DIGITS:
        raise _Refused(
            Issue(
                loc=format_loc(path),
                line=node.start_mark.line + 1,
                message=f"an integer longer than {MAX_INT_DIGITS} digits",
            )
        )
    try:
        return loader.construct_object(node, deep=True)
    except (ValueError, OverflowError):  # a date-like 2025-13-01, an out-of-range number
        kind = "date" if node.tag.endswith(":timestamp") else "value"
        raise _Refused(
            Issue(
                loc=format_loc(path),
                line=node.start_mark.line + 1,
                message=f"not a valid {kind}",
                value=excerpt_text(str(text)),
            )
        ) from None


def _syntax(text: str) -> str:
    """What a text that failed to parse was meant to be: JSON (it opens with a brace or a
    bracket; YAML's flow style does too, so both are named) or YAML."""
    return "JSON or YAML" if text.lstrip()[:1] in ("{", "[") else "YAML"


def parse_text(text: str, *, name: str = "<input>", aliases: bool = False) -> tuple[Any, Lines]:
    """Parse YAML (a superset of JSON) safely; return the data and a path → line map.

    Bounded: nesting, entries, string and integer lengths (`MAX_*`). `aliases=False` (records,
    facts) refuses YAML anchors and aliases; `aliases=True` (definitions) expands them, up to
    `MAX_NODES` values in all.
    """
    lines: Lines = {}
    issues: list[Issue] = []
    if not aliases and ("&" in text or "*" in text):
        _refuse_anchors(text, name)
    loader: Any = None
    try:
        loader = _FAST(text)
        node = loader.get_single_node()
        data = (
            None
            if node is None
            else _build(node, (), lines, issues, loader, _Budget(aliases=aliases))
        )
    except _Refused as refused:
        raise DefinitionError(
            [refused.issue.model_copy(update={"file": name})], source=name
        ) from None
    except yaml.YAMLError as exc:
        exc = _python_error(text, exc)
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            [
                Issue(
                    loc="",
                    file=name,
                    line=line,
                    message=f"malformed {_syntax(text)}: {excerpt_text(problem)}",
                )
            ],
            source=name,
        ) from None
    except (RecursionError, MemoryError, ValueError, OverflowError) as exc:
        raise DefinitionError(
            [Issue(loc="", file=name, message=f"unreadable YAML ({type(exc).__name__})")],
            source=name,
        ) from None
    finally:
        if loader is not None:
            loader.dispose()
    if issues:
        raise DefinitionError([i.model_copy(update={"file": name}) for i in issues], source=name)
    return data, lines


def _python_error(text: str, exc: yaml.YAMLError) -> yaml.YAMLError:
    """The pure-Python parser's wording of a syntax error (clearer than libyaml's), if it finds
    the same problem without trouble."""
    if exc.__class__.__name__ == "ComposerError" or len(text) > 1_000_000:
        return exc
    loader: Any = None
    try:
        loader = _Loader(text)
        loader.get_single_node()
    except yaml.YAMLError as found:
        return found
    except RecursionError:
        return exc
    finally:
        if loader is not None:
            loader.dispose()
    return exc


def _refuse_anchors(text: str, name: str) -> None:
    """Records and facts are plain data: an anchor or alias is refused with its line."""
    parser: Any = None
    try:
        parser = _FAST(text)
        while (event := parser.get_event()) is not None:
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
                raise DefinitionError(
                    [
                        Issue(
                            loc="",
                            file=name,
                            line=event.start_mark.line + 1,
                            message="YAML anchors and aliases are not allowed in a record",
                        )
                    ],
                    source=name,
                )
    except yaml.YAMLError:
        return  # malformed: parse_text reports it with its line
    finally:
        if parser is not None:
            parser.dispose()


class _Duplicate(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


def _json_int(text: str) -> int:
    if sum(c.isdigit() for c in text) > MAX_INT_DIGITS:
        raise ValueError(f"an integer longer than {MAX_INT_DIGITS} digits")
    return int(text)


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not a number JSON allows")


def parse_json(text: str, *, name: str = "<input>") -> Any:
    """Strict, bounded JSON: duplicate keys, NaN/Infinity, over-long integers and strings, deep
    nesting and huge lists are refused (DefinitionError naming the file), never read silently."""

    def refuse(message: str, line: int | None = None) -> DefinitionError:
        return DefinitionError([Issue(loc="", file=name, line=line, message=message)], source=name)

    try:
        data = json.loads(
            text, object_pairs_hook=_pairs, parse_int=_json_int, parse_constant=_no_constant
        )
    except _Duplicate as dup:
        raise refuse(f"duplicate key '{excerpt_text(dup.key)}'") from None
    except json.JSONDecodeError as exc:
        raise refuse(f"malformed JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise refuse(f"nested deeper than {MAX_DEPTH}") from None
    except (ValueError, OverflowError, MemoryError) as exc:
        raise refuse(f"unreadable JSON: {excerpt_text(str(exc))}") from None
    problem = _check_bounds(data)
    if problem is not None:
        loc, message = problem
        raise DefinitionError([Issue(loc=loc, file=name, message=message)], source=name)
    return data


def _check_bounds(data: Any) -> tuple[str, str] | None:
    """The first place plain data exceeds the limits, as (location, message); iterative."""
    todo: list[tuple[Any, tuple[str | int, ...]]] = [(data, ())]
    while todo:
        value, path = todo.pop()
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                return format_loc(path), f"a value longer than {MAX_STRING:,} characters"
            continue
        if not isinstance(value, dict | list):
            continue
        if len(path) >= MAX_DEPTH:
            return format_loc(path), f"nested deeper than {MAX_DEPTH}"
        if len(value) > MAX_ITEMS:
            return format_loc(path), f"more than {MAX_ITEMS:,} entries"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        todo += [(v, (*path, k)) for k, v in items]
    return None


def decode(raw: bytes, *, name: str) -> str:
    """File bytes as text: UTF-8 (a BOM is dropped), else DefinitionError naming the byte."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DefinitionError(
            [Issue(loc="", file=name, line=line, message=f"not UTF-8 text (byte {exc.start})")],
            source=name,
        ) from None


def read_text(path: Path | str) -> tuple[str, str]:
    """(text, display name) of a file ('-' is stdin), at most MAX_FILE_BYTES of UTF-8."""
    import sys

    p = str(path)
    name = "<stdin>" if p == "-" else Path(p).name
    try:
        if p == "-":
            raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
        else:
            with open(p, "rb") as fh:
                raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise PathwayError(f"cannot read {excerpt_text(p)}: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise DefinitionError(
            [Issue(loc="", file=name, message=f"larger than {MAX_FILE_BYTES // 2**20} MiB")],
            source=name,
        )
    return decode(raw, name=name), name


def read_data(path: Path | str, *, aliases: bool = False) -> tuple[Any, Lines]:
    """Read a JSON or YAML file ('-' is stdin); JSON is parsed strictly when the suffix is .json.

    Every size, nesting, encoding or syntax problem is a DefinitionError naming the file.
    `aliases=True` lets YAML aliases through, bounded (definitions and catalogs).
    """
    text, name = read_text(path)
    if str(path).endswith(".json"):
        return parse_json(text, name=name), {}
    return parse_text(text, name=name, aliases=aliases)


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
            msg = f"unknown field '{excerpt_text(key)}'{did_you_mean(key, set(vocabulary) - {key})}"
            value = None  # never echo what an unknown field holds (a name, an MRN…)
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
    """The offending value, unless it is a whole sub-document (empty ones are kept); long text
    is cut to an excerpt."""
    if isinstance(value, dict | list) and value:
        return None
    if isinstance(value, str) and len(value) > 80:
        return excerpt_text(value, 40)  # "qqq… (90,000 characters)"
    return value


def load_model(model: type[M], path: Path | str) -> M:
    """Read a YAML/JSON file into `model`, raising DefinitionError with file:line issues."""
    data, lines = read_data(path, aliases=True)
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
