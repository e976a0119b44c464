"""Read-only queries over the store: worklist, board, overlays, audit, timeline (each takes a
`ReadSource`, never writes)."""
