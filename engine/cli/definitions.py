"""`pathway definitions` (the stored versions) and `pathway migrate` (move pinned patients)."""

from __future__ import annotations

from typing import Annotated

import typer as _typer

from engine.cli import common
from engine.cli.common import dump_json, handle_errors
from engine.cli.patients import ActorOpt, DbOpt, JsonOpt, actor_of, services


def register(app: _typer.Typer) -> None:
    """Add `definitions` and `migrate` to an app."""

    def definitions(db: DbOpt = None, json_out: JsonOpt = False) -> None:
        """Every definition version the engine has used, and how many patients each holds."""
        with services(db) as svc:
            rows = svc.stored_definitions()
        if json_out:
            dump_json([r.model_dump(mode="json") for r in rows])
            return
        if not rows:
            common.out.print("no definition stored yet (one is stored when a patient enrolls)")
        for r in rows:
            common.out.print(
                f"{r.id} {r.version}  {r.patients} patient{'s' if r.patients != 1 else ''}  "
                f"sha256 {r.sha256[:16]}…  first used {r.first_seen:%Y-%m-%d %H:%M} UTC",
                markup=False,
            )

    def migrate(
        to: Annotated[
            str,
            _typer.Option(
                "--to", help="Target version (stored or shipped), or a definition YAML file."
            ),
        ],
        state: Annotated[
            str | None, _typer.Option("--state", help="Only patients in this state.")
        ] = None,
        dry_run: Annotated[
            bool, _typer.Option("--dry-run", help="Report what would move; write nothing.")
        ] = False,
        actor: ActorOpt = None,
        db: DbOpt = None,
        json_out: JsonOpt = False,
    ) -> None:
        """Move pinned patients to another version: one audited event per patient."""
        with services(db) as svc:
            result = svc.migrate(to, actor=actor_of(actor), state=state, dry_run=dry_run)
        if json_out:
            dump_json(result)
            return
        d = result.definition
        verb = "would move" if result.dry_run else "moved"
        common.out.print(
            f"{verb} {len(result.moved)} patients to {d.id} {d.version}; "
            f"{len(result.refused)} refused"
            + (
                f", {len(result.changed_meanwhile)} changed meanwhile (run again)"
                if result.changed_meanwhile
                else ""
            ),
            markup=False,
        )
        changed = [m for m in result.moved if m.old_enabled != m.new_enabled]
        if changed:
            common.out.print(f"  {len(changed)} with other enabled moves:", markup=False)
        for m in changed:
            common.out.print(
                f"  {m.patient_id} in '{m.state}' ({m.from_version}): "
                f"{', '.join(m.old_enabled) or '-'} → {', '.join(m.new_enabled) or '-'}",
                markup=False,
            )
        for f in result.refused:
            common.out.print(
                f"  refused {f.patient_id} in '{f.state}': {f.problem.replace('_', ' ')}",
                markup=False,
            )

    app.command("definitions")(handle_errors(definitions))
    app.command("migrate")(handle_errors(migrate))
