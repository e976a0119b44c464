"""Run the Graphviz `dot` program (through the `graphviz` package, imported only when needed)."""

from __future__ import annotations

import re

from viz.errors import GraphvizNotInstalled, RenderFailed

IMAGE_FORMATS = ("svg", "png", "pdf")
PDF_DATE = b"19700101000000"
"""What a PDF's `/CreationDate` is set to: cairo stamps the time of the run (and ignores
`SOURCE_DATE_EPOCH` before 1.17), so the same diagram would give different bytes every second."""
_PDF_DATES = re.compile(rb"/(CreationDate|ModDate) \(D:[0-9]{14}(Z|[+-][0-9]{2}'[0-9]{2}'?)?\)")
_XREF_ENTRY = re.compile(rb"^([0-9]{10}) ([0-9]{5}) n", re.MULTILINE)
_STARTXREF = re.compile(rb"(startxref\s+)([0-9]+)")


def run_dot(source: str, fmt: str) -> bytes:
    """Lay out DOT text and write it as svg, png or pdf (the same bytes for the same text, in
    any time zone: a PDF's creation date is a fixed one)."""
    import graphviz  # lazily: `import viz` stays cheap and works without it

    try:
        data: bytes = graphviz.pipe("dot", fmt, source.encode(), quiet=True)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotInstalled(fmt) from None
    except graphviz.CalledProcessError as exc:
        raise RenderFailed(fmt, (exc.stderr or b"").decode(errors="replace")) from None
    return fixed_dates(data) if fmt == "pdf" else data


def fixed_dates(pdf: bytes) -> bytes:
    """The PDF with its creation (and modification) date set to `PDF_DATE` in UTC, and the byte
    offsets after it (cross-reference table, `startxref`) moved to match: cairo writes the stamp
    in the local time zone (`Z` in UTC, `+14'00` in Kiritimati), so its length, and with it the
    offsets, would depend on where the diagram was drawn."""
    parts: list[bytes] = []
    shifts: list[tuple[int, int]] = []  # (where a stamp was, how much longer it got)
    last = 0
    for m in _PDF_DATES.finditer(pdf):
        stamp = b"/" + m.group(1) + b" (D:" + PDF_DATE + b"Z)"
        parts += [pdf[last : m.start()], stamp]
        shifts.append((m.start(), len(stamp) - len(m.group(0))))
        last = m.end()
    if not shifts:
        return pdf
    out = b"".join([*parts, pdf[last:]])

    def moved(offset: int) -> int:
        return offset + sum(delta for at, delta in shifts if at < offset)

    table = out.rfind(b"\nxref\n")  # the last cross-reference table (cairo writes one)
    if table < 0:
        return out
    tail = _XREF_ENTRY.sub(
        lambda e: b"%010d %s n" % (moved(int(e.group(1))), e.group(2)), out[table:]
    )
    tail = _STARTXREF.sub(lambda e: e.group(1) + b"%d" % moved(int(e.group(2))), tail)
    return out[:table] + tail
