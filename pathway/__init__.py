"""pathway: a declarative clinical pathway engine for treatment-resistant depression.

The declarative core: definitions (YAML, validated), patient records, named clinical predicates,
three-valued guards with reasons, and `assess`. It imports no database, diagram or state-machine
library.
"""

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
