"""Depression quality measures (CMS159, CMS128/AMM, NQF 1884, DRR-E) and deviation reports."""

from engine.measures.valuesets import ValueSets

__all__ = ["ValueSets"]
