"""The catalog's RxNorm table is generated from the shipped value set, and it is current."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from pathway import default_catalog
from pathway.yamlio import definitions_dir

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("gen_rxnorm", ROOT / "tools" / "gen_rxnorm.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_rxnorm_section_is_what_the_value_set_generates():
    tool = _tool()
    text = (definitions_dir() / "drugs.yaml").read_text(encoding="utf-8")
    start = text.index(tool.BEGIN)
    end = text.index(tool.END) + len(tool.END) + 1
    assert text[start:end] == tool.section(definitions_dir()), "run tools/gen_rxnorm.py"


def test_every_single_ingredient_antidepressant_code_resolves():
    cat = default_catalog()
    mapped, unmapped = _tool().entries(definitions_dir())
    assert len(mapped) == len(cat.rxnorm) == 160
    # what is left out is a combination, a pack, or oral selegiline (not in the catalog)
    assert all("/" in d or d.startswith("{") or "selegiline" in d for _, d in unmapped)
    assert cat.rxnorm["312941"].drug == "sertraline" and cat.rxnorm["312941"].mg == 50
    assert cat.rxnorm["865206"].drug == "selegiline transdermal"  # 0.25 mg/h patch
    assert cat.rxnorm["865206"].mg == 6
    assert cat.rxnorm["1738803"].drug == "paroxetine CR"
