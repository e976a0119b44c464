"""Which definitions the engine knows: the shipped ones plus any named files, by (id, version).

A patient is pinned to a (definition id, version) at enrollment; every later command must find
that exact version here ($PATHWAY_DEFINITIONS lists extra YAML files, separated by ':').
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from engine.errors import DefinitionUnavailable
from pathway.definition import Definition
from pathway.loader import load_definition, resolve

ENV_DEFINITIONS = "PATHWAY_DEFINITIONS"


class DefinitionRegistry:
    """Definitions by (id, version); files are loaded lazily, the first one is the default."""

    def __init__(
        self, sources: Iterable[str | Path | Definition] = ("trd",), *, use_env: bool = True
    ) -> None:
        self._loaded: dict[tuple[str, str], Definition] = {}
        self._pending: list[str | Path] = []
        self._default: Definition | None = None
        self._default_source: str | Path | None = None
        extra = os.environ.get(ENV_DEFINITIONS, "") if use_env else ""
        for src in [*sources, *[p for p in extra.split(os.pathsep) if p]]:
            self.add(src)

    def add(self, source: str | Path | Definition) -> Definition | None:
        """Register a definition (loaded now) or a file (loaded when needed)."""
        if isinstance(source, Definition):
            self._loaded.setdefault(source.key, source)
            if self._default is None and self._default_source is None:
                self._default = source
            return source
        self._pending.append(source)
        if self._default is None and self._default_source is None:
            self._default_source = source
        return None

    def load(self, source: str | Path) -> Definition:
        """Load a file (DefinitionError if invalid) and register it."""
        d = load_definition(resolve(source))
        self._loaded.setdefault(d.key, d)
        return self._loaded[d.key]

    @property
    def default(self) -> Definition:
        """The definition new patients are enrolled on unless told otherwise."""
        if self._default is None:
            if self._default_source is None:
                raise DefinitionUnavailable("(default)", "-")
            self._default = self.load(self._default_source)
        return self._default

    def get(self, definition_id: str, version: str) -> Definition:
        """The definition a patient is pinned to (DefinitionUnavailable if none matches)."""
        key = (definition_id, version)
        found = self._loaded.get(key)
        while found is None and self._pending:
            self.load(self._pending.pop(0))
            found = self._loaded.get(key)
        if found is None:
            raise DefinitionUnavailable(definition_id, version)
        return found
