"""Vendored scripts are the npm files their manifests name (sha256); no page loads a CDN."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = [
    ROOT / "engine/web/static/vendor/vendor.json",
    ROOT / "tests/web/browser/vendor/vendor.json",
]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.parent.name + "/" + p.name)
def test_vendored_files_match_their_manifest(manifest: Path) -> None:
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    assert entries
    for name, entry in entries.items():
        data = (manifest.parent / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"])
        assert entry["version"] in entry["from"]


def test_htmx_is_version_2() -> None:
    entry = json.loads(MANIFESTS[0].read_text(encoding="utf-8"))["htmx.min.js"]
    assert entry["package"] == "htmx.org" and entry["version"].startswith("2.")


def test_templates_load_nothing_from_elsewhere() -> None:
    folder = ROOT / "engine/web/templates"
    for path in sorted(folder.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path.name
        assert "<script>" not in text and " style=" not in text, path.name
        assert not re.search(r"\son[a-z]+=", text), path.name  # no inline handlers
