"""The eCQM value-set expansions shipped in `definitions/valuesets/` (CC0), loaded by name."""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import Any

from pathway.yamlio import definitions_dir

FILES = (
    "DepressionRemissionatTwelveMonthsFHIR-valuesets.json",
    "AntidepressantMedicationManagementFHIR-valuesets.json",
)
Code = tuple[str, str]  # (system, code)


class ValueSets:
    """Expanded value sets by name (e.g. "BipolarDisorder") as sets of (system, code)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or definitions_dir() / "valuesets"
        self.memo: dict[object, Any] = {}  # what the measures derive once per value-set load

    @cached_property
    def _sets(self) -> dict[str, frozenset[Code]]:
        sets: dict[str, set[Code]] = {}
        for name in FILES:
            data = json.loads((self.folder / name).read_text(encoding="utf-8"))
            for entry in data["entry"]:
                vs = entry["resource"]
                codes = sets.setdefault(vs["name"], set())
                for item in vs.get("expansion", {}).get("contains", []):
                    codes.add((item["system"], item["code"]))
        return {k: frozenset(v) for k, v in sets.items()}

    @property
    def names(self) -> list[str]:
        """Every value set name, sorted."""
        return sorted(self._sets)

    def __getitem__(self, name: str) -> frozenset[Code]:
        try:
            return self._sets[name]
        except KeyError:
            raise KeyError(f"no value set named {name!r} in {self.folder}") from None

    def union(self, names: Iterable[str]) -> frozenset[Code]:
        """The union of several value sets (computed once per list of names)."""
        key = tuple(names)
        found = self.memo.get(key)
        if found is None:
            out: set[Code] = set()
            for n in key:
                out |= self[n]
            found = self.memo[key] = frozenset(out)
        return found

    def matches(self, codings: Iterable[dict[str, object]], name: str) -> bool:
        """Whether any coding (FHIR dicts with system and code) is in the named value set."""
        vs = self[name]
        return any((str(cd.get("system")), str(cd.get("code"))) in vs for cd in codings)
