"""Persistence: tables, repository, units of work, migrations, and the SQL of the fast paths,
the board, the due items and the cohort rollup (see docs/architecture.md for which form is for
what)."""
