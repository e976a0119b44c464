"""Run the Graphviz `dot` program (through the `graphviz` package, imported only when needed)."""

from __future__ import annotations

from viz.errors import GraphvizNotInstalled, RenderFailed

IMAGE_FORMATS = ("svg", "png", "pdf")


def run_dot(source: str, fmt: str) -> bytes:
    """Lay out DOT text and write it as svg, png or pdf."""
    import graphviz  # lazily: `import viz` stays cheap and works without it

    try:
        return graphviz.pipe("dot", fmt, source.encode(), quiet=True)  # type: ignore[no-any-return]
    except graphviz.ExecutableNotFound:
        raise GraphvizNotInstalled(fmt) from None
    except graphviz.CalledProcessError as exc:
        raise RenderFailed(fmt, (exc.stderr or b"").decode(errors="replace")) from None
