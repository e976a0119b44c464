"""The measures by id, and their groups in the published order."""

from __future__ import annotations

from collections.abc import Callable

from engine.measures.amm import cms128
from engine.measures.logic import GroupResult, Period, cms159, drr_e, nqf1884
from engine.measures.model import MeasurePatient
from engine.measures.valuesets import ValueSets

MEASURES: dict[str, Callable[[MeasurePatient, Period, ValueSets], list[GroupResult]]] = {
    "CMS159": cms159,
    "CMS128": cms128,
    "NQF1884": nqf1884,
    "DRR-E": drr_e,
}
# Groups in the published measures' order (CMS128: Numerator 1, then Numerator 2).
GROUPS: dict[str, tuple[str, ...]] = {
    "CMS159": ("remission-12-months",),
    "CMS128": ("acute-phase-84-days", "continuation-phase-180-days"),
    "NQF1884": ("response-6-months",),
    "DRR-E": ("follow-up", "remission", "response"),
}
