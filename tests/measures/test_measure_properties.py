"""Invariants of every measure over generated charts: the populations nest as MeasureReport
requires, and the result does not depend on the order the resources come in."""

from __future__ import annotations

import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st
from measure_support import P2025, VS, Chart

from engine.measures.logic import DEN, EXCL, IP, NUM
from engine.measures.model import patients_from_fhir
from engine.measures.registry import GROUPS, MEASURES

BASE = dt.date(2023, 6, 1)
days = st.integers(0, 900).map(lambda n: (BASE + dt.timedelta(days=n)).isoformat())


@st.composite
def charts(draw):
    c = Chart(birth=draw(st.sampled_from(["1950-01-01", "2008-07-01", "2012-03-01"])))
    if draw(st.booleans()):
        c.mdd(draw(days))
    for _ in range(draw(st.integers(0, 3))):
        c.visit(draw(days))
    near = st.integers(270, 300).map(lambda n: (BASE + dt.timedelta(days=n)).isoformat())
    for _ in range(draw(st.integers(0, 5))):
        c.phq9(draw(days | near), draw(st.integers(0, 27)))  # `near`: same-day scores
    for _ in range(draw(st.integers(0, 3))):
        c.dispense(draw(days), draw(st.integers(1, 120)))
    if draw(st.booleans()):
        c.order(draw(days), draw(days))
    if draw(st.booleans()):
        c.condition("http://snomed.info/sct", "13746004", draw(days))
    return c


@settings(max_examples=150, deadline=None)
@given(charts(), st.randoms())
def test_populations_nest_and_ignore_resource_order(chart, rng):
    (patient,) = patients_from_fhir(chart.resources)
    shuffled = list(chart.resources)
    rng.shuffle(shuffled)
    (again,) = patients_from_fhir(shuffled)
    for mid, fn in MEASURES.items():
        results = fn(patient, P2025, VS)
        assert [r.group for r in results] == list(GROUPS[mid])
        for r in results:
            pops = r.populations
            assert pops[DEN] == pops[IP]
            assert not pops[EXCL] or pops[DEN]
            assert not pops[NUM] or (pops[DEN] and not pops[EXCL])
        assert [r.populations for r in fn(again, P2025, VS)] == [r.populations for r in results]
