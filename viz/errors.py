"""Errors raised by `viz`: all below `pathway.errors.PathwayError`."""

from __future__ import annotations

from pathway.errors import PathwayError

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: `apt-get install graphviz`; macOS: `brew install graphviz`), "
    "or ask for a format that needs no Graphviz: dot, mermaid or json"
)


class GraphvizNotInstalled(PathwayError):
    """The Graphviz `dot` program is needed for svg, png and pdf, and it is not on PATH."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        super().__init__(
            f"rendering to {fmt} needs the Graphviz `dot` program, which is not on PATH: "
            + INSTALL_HINT
        )


class RenderFailed(PathwayError):
    """The Graphviz `dot` program ran but failed; `stderr` holds what it said."""

    def __init__(self, fmt: str, stderr: str) -> None:
        self.fmt, self.stderr = fmt, stderr
        super().__init__(f"Graphviz `dot` failed to render {fmt}: {stderr.strip() or 'no message'}")


class UnknownFormat(PathwayError):
    """The requested output format is not one `viz` can write."""

    def __init__(self, fmt: str, known: tuple[str, ...]) -> None:
        self.fmt, self.known = fmt, known
        super().__init__(f"unknown diagram format '{fmt}'; choose one of {', '.join(known)}")


class OverlayMismatch(PathwayError):
    """Overlay data names a state or transition the definition does not declare."""

    def __init__(self, what: str, problems: list[str]) -> None:
        self.what, self.problems = what, list(problems)
        super().__init__(f"the {what} does not fit this definition: " + "; ".join(self.problems))
