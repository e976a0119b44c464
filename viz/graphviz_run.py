"""Run the Graphviz `dot` program (through the `graphviz` package, imported only when needed)."""

from __future__ import annotations

import re

from viz.errors import GraphvizNotInstalled, RenderFailed

IMAGE_FORMATS = ("svg", "png", "pdf")
PDF_DATE = b"19700101000000"
"""What a PDF's `/CreationDate` is set to: cairo stamps the time of the run (and ignores
`SOURCE_DATE_EPOCH` before 1.17), so the same diagram would give different bytes every second."""
_PDF_DATES = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9]{14}(Z|[+-][0-9]{2}'[0-9]{2}'?)?\)")


def run_dot(source: str, fmt: str) -> bytes:
    """Lay out DOT text and write it as svg, png or pdf (the same bytes for the same text: a
    PDF's creation date is a fixed one)."""
    import graphviz  # lazily: `import viz` stays cheap and works without it

    try:
        data: bytes = graphviz.pipe("dot", fmt, source.encode(), quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotInstalled(fmt) from None
    except graphviz.CalledProcessError as exc:
        raise RenderFailed(fmt, (exc.stderr or b"").decode(errors="replace")) from None
    return fixed_dates(data) if fmt == "pdf" else data


def fixed_dates(pdf: bytes) -> bytes:
    """The PDF with its creation (and modification) date set to `PDF_DATE`, padded to the same
    length so that the cross-reference table's byte offsets still hold."""

    def fixed(m: re.Match[bytes]) -> bytes:
        zone = b"Z" if m.group(2) else b""
        stamp = b"/" + m.group(1) + b" (D:" + PDF_DATE + zone + b")"
        return stamp + b" " * (len(m.group(0)) - len(stamp))

    return _PDF_DATES.sub(fixed, pdf)
