"""Depression quality measures (CMS159, CMS128/AMM, NQF 1884, DRR-E) and deviation reports."""

from engine.measures.amm import cumulative_days
from engine.measures.deviations import deviation_report
from engine.measures.logic import GroupResult, Period
from engine.measures.model import Item, MeasurePatient, patients_from_fhir
from engine.measures.report import evaluate, measure_reports, parse_period, to_csv
from engine.measures.sources import from_db, from_fhir, from_record_doc
from engine.measures.valuesets import ValueSets

__all__ = [
    "GroupResult",
    "Item",
    "MeasurePatient",
    "Period",
    "ValueSets",
    "cumulative_days",
    "deviation_report",
    "evaluate",
    "from_db",
    "from_fhir",
    "from_record_doc",
    "measure_reports",
    "parse_period",
    "patients_from_fhir",
    "to_csv",
]
