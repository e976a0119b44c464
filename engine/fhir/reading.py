"""Read FHIR content from files: a Bundle, a resource, NDJSON, or a folder of them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pathway.errors import Issue, RecordError

SUFFIXES = (".json", ".ndjson", ".jsonl")


def _flatten(source: str, data: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        entries = data.get("entry") or []
        if not isinstance(entries, list):
            got = type(entries).__name__
            yield source, ValueError(f"Bundle.entry must be a list of entries, got {got}")
            return
        for i, entry in enumerate(entries):
            res = entry.get("resource") if isinstance(entry, dict) else None
            if res is None:
                yield f"{source}#entry[{i}]", ValueError("Bundle entry without a resource")
                continue
            if isinstance(res, dict) and "fullUrl" in entry:
                res = {**res, "_fullUrl": entry["fullUrl"]}
            yield from _flatten(f"{source}#entry[{i}]", res)
    else:
        yield source, data


def read_paths(paths: list[str]) -> Iterator[tuple[str, Any]]:
    """(source, resource dict) per resource; a malformed file or line yields (source, error).

    A missing path is invalid input (RecordError naming it) and is raised before anything else.
    """
    missing = [p for p in paths if not Path(p).exists()]
    if missing:
        raise RecordError(
            [Issue(loc="PATH", value=p, message="no such file or folder") for p in missing]
        )
    for p in map(Path, paths):
        files = sorted(f for f in p.rglob("*") if f.suffix in SUFFIXES) if p.is_dir() else [p]
        for f in files:
            if f.suffix in (".ndjson", ".jsonl"):
                with f.open(encoding="utf-8") as fh:
                    for n, line in enumerate(fh, start=1):
                        if not line.strip():
                            continue
                        try:
                            data = json.loads(line)
                        except ValueError as exc:
                            yield f"{f.name}:{n}", ValueError(f"malformed JSON: {exc}")
                            continue
                        yield from _flatten(f"{f.name}:{n}", data)
                continue
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                yield f.name, ValueError(f"malformed JSON: {exc}")
                continue
            yield from _flatten(f.name, data)
