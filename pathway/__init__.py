"""pathway: a declarative clinical pathway engine for treatment-resistant depression.

The declarative core: definitions (YAML, validated), patient records, named clinical predicates,
three-valued guards with reasons, and `assess`. It imports no database, diagram or state-machine
library. The public API is re-exported lazily: `import pathway` loads no model until a name is
used (apps that import us start fast; `benchmarks/startup.py`).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathway.assess import Assessment, assess
    from pathway.catalog import Catalog, Drug, Instrument, default_catalog, load_catalog
    from pathway.definition import Definition, State, Transition
    from pathway.errors import (
        DefinitionError,
        InvalidTrigger,
        Issue,
        PathwayError,
        RecordError,
        StaleVersion,
        TransitionBlocked,
        UnknownPatient,
    )
    from pathway.evaluation import GuardResult, guard_results, recommend
    from pathway.facts import Facts, derive
    from pathway.loader import load_definition
    from pathway.record import PatientRecord, load_record, parse_record
    from pathway.results import PredicateResult, Tri
    from pathway.trials import TrialAssessment

_EXPORTS = {
    "Assessment": "pathway.assess",
    "Catalog": "pathway.catalog",
    "Definition": "pathway.definition",
    "DefinitionError": "pathway.errors",
    "Drug": "pathway.catalog",
    "Facts": "pathway.facts",
    "GuardResult": "pathway.evaluation",
    "Instrument": "pathway.catalog",
    "InvalidTrigger": "pathway.errors",
    "Issue": "pathway.errors",
    "PathwayError": "pathway.errors",
    "PatientRecord": "pathway.record",
    "PredicateResult": "pathway.results",
    "RecordError": "pathway.errors",
    "StaleVersion": "pathway.errors",
    "State": "pathway.definition",
    "Transition": "pathway.definition",
    "TransitionBlocked": "pathway.errors",
    "Tri": "pathway.results",
    "TrialAssessment": "pathway.trials",
    "UnknownPatient": "pathway.errors",
    "assess": "pathway.assess",
    "default_catalog": "pathway.catalog",
    "derive": "pathway.facts",
    "guard_results": "pathway.evaluation",
    "load_catalog": "pathway.catalog",
    "load_definition": "pathway.loader",
    "load_record": "pathway.record",
    "parse_record": "pathway.record",
    "recommend": "pathway.evaluation",
}

__all__ = [
    "Assessment",
    "Catalog",
    "Definition",
    "DefinitionError",
    "Drug",
    "Facts",
    "GuardResult",
    "Instrument",
    "InvalidTrigger",
    "Issue",
    "PathwayError",
    "PatientRecord",
    "PredicateResult",
    "RecordError",
    "StaleVersion",
    "State",
    "Transition",
    "TransitionBlocked",
    "Tri",
    "TrialAssessment",
    "UnknownPatient",
    "assess",
    "default_catalog",
    "derive",
    "guard_results",
    "load_catalog",
    "load_definition",
    "load_record",
    "parse_record",
    "recommend",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pathway' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # looked up once
    return value


class _Package(types.ModuleType):
    """The `pathway` module: the function `pathway.assess` is never replaced by the submodule
    of the same name, which the import system binds on its parent when it is first imported."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _EXPORTS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
