"""Which definitions the engine knows: the shipped ones plus any named files, by (id, version).

A patient is pinned to a (definition id, version) at enrollment. The engine stores every version
it uses in the database (`engine.store.definition_store`), so a version no file here provides
is read from there; a file whose content differs from the stored version of its id and version is
refused ($PATHWAY_DEFINITIONS lists extra YAML files, separated by ':').
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from engine.errors import DefinitionConflict, DefinitionUnavailable
from engine.store.definition_store import StoredDefinition, fingerprint, restore
from pathway.definition import Definition
from pathway.loader import load_definition, resolve
from pathway.yamlio import definitions_dir

Fetch = Callable[[str, str], StoredDefinition | None]

ENV_DEFINITIONS = "PATHWAY_DEFINITIONS"


class DefinitionRegistry:
    """Definitions by (id, version); files are loaded lazily, the first one is the default."""

    def __init__(
        self, sources: Iterable[str | Path | Definition] | None = None, *, use_env: bool = True
    ) -> None:
        """`sources`: files or definitions, the first the default; by default the shipped
        definition and the earlier versions shipped beside it (`definitions/trd-1.0.0.yaml`),
        so patients pinned to those before the database stored definitions stay evaluable."""
        self._loaded: dict[tuple[str, str], Definition] = {}
        self._checked: set[tuple[str, str]] = set()  # compared with the stored content
        self.store: Fetch | None = None  # the database's stored versions (set by Services)
        self._pending: list[str | Path] = []
        self._default: Definition | None = None
        self._default_source: str | Path | None = None
        extra = os.environ.get(ENV_DEFINITIONS, "") if use_env else ""
        if sources is None:
            sources = ["trd", *sorted(definitions_dir().glob("trd-*.yaml"))]
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
        if key in self._checked and found is not None:
            return found
        stored = self.store(definition_id, version) if self.store is not None else None
        if found is None and stored is not None:
            found = self._loaded[key] = restore(stored.content)
        elif found is not None and stored is not None:
            sha = fingerprint(found)[0]
            if sha != stored.sha256:
                raise DefinitionConflict(definition_id, version, stored.sha256, sha)
        if found is None:
            raise DefinitionUnavailable(definition_id, version)
        if self.store is not None:
            self._checked.add(key)
        return found
