"""Rendering of pathway definitions (and overlays) to diagrams."""
