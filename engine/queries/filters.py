"""The worklist's and the board's filters, checked before they are applied: a state, definition
or version that no stored definition version knows, an unknown due-item kind, or a page size
below 1 is refused (`InvalidFilter`, naming the filter, the value and the valid ones), never
answered with an empty list that reads as "nobody due".

What is known is what the database holds: the stored definition versions (`pathway
definitions`; their states read from the stored content), the (definition, version, state) of
every patient now enrolled (the board's counts, `board_count`), and the default definition (so a
new database knows its states). Nothing is read when no filter is given.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pathway.errors import Issue, RecordError, excerpt
from pathway.yamlio import did_you_mean

if TYPE_CHECKING:
    import sqlalchemy as sa

    from engine.definitions import DefinitionRegistry


class InvalidFilter(RecordError):
    """A worklist or board filter names nothing the database knows (or a page size below 1);
    `issues` names each filter (`loc`), its value and the valid ones. A `RecordError`, so the
    command line exits 2 and the web API answers 422 with each field."""

    what = "filters"

    def renamed(self, names: Mapping[str, str]) -> InvalidFilter:
        """The same error with each filter named as the caller knows it (`--state` for
        `state`)."""
        return InvalidFilter(
            [i.model_copy(update={"loc": names.get(i.loc, i.loc)}) for i in self.issues],
            source=self.source,
        )


@dataclass
class Known:
    """Definition ids with their versions, and states, in the order first met."""

    versions: dict[str, list[str]] = field(default_factory=dict)
    states: list[str] = field(default_factory=list)

    def add(self, definition_id: str, version: str, states: Iterable[str] = ()) -> None:
        known = self.versions.setdefault(definition_id, [])
        if version not in known:
            known.append(version)
        self.states.extend(s for s in states if s not in self.states)


def known(conn: sa.Connection, definitions: DefinitionRegistry, *, states: bool) -> Known:
    """What the database knows (`states`: the stored versions' states too, from the registry,
    which keeps each version once read)."""
    import sqlalchemy as sa

    from engine.store.tables import board_count_table, definition_version_table
    from pathway.errors import PathwayError

    out = Known()
    t = definition_version_table()
    rows = conn.execute(
        sa.select(t.c.definition_id, t.c.version).order_by(t.c.definition_id, t.c.first_seen)
    )
    for did, version in rows:
        listed: list[str] = []
        if states:
            try:
                listed = [s.id for s in definitions.get(did, version).states]
            except PathwayError:  # a version no file gives and that cannot be restored as is
                content = sa.select(t.c.content).where(
                    t.c.definition_id == did, t.c.version == version
                )
                listed = _states(conn.execute(content).scalar() or "")
        out.add(did, version, listed)
    default = definitions.default
    out.add(
        default.metadata.id,
        default.metadata.version,
        [s.id for s in default.states] if states else (),
    )
    b = board_count_table()
    held = sa.select(b.c.definition_id, b.c.definition_version, b.c.state).distinct()
    for did, version, state in conn.execute(held.order_by(b.c.definition_id)):
        out.add(did, version, [state] if states else ())
    return out


def _states(content: str) -> list[str]:
    """The state ids of a stored version's content (canonical JSON; unreadable: none)."""
    try:
        listed = json.loads(content)["definition"]["states"]
        return [str(s["id"]) for s in listed]
    except (ValueError, KeyError, TypeError):
        return []


def check_definition(
    conn: sa.Connection,
    definitions: DefinitionRegistry,
    *,
    state: str | None = None,
    definition_id: str | None = None,
    definition_version: str | None = None,
    issues: Sequence[Issue] = (),
) -> None:
    """Refuse a state, definition id or version the database does not know (InvalidFilter,
    with the `issues` found before too, so every problem is named at once)."""
    if state is None and definition_id is None and definition_version is None:
        refuse(issues)
        return
    k = known(conn, definitions, states=state is not None)
    issues = list(issues)
    ids = list(k.versions)
    if definition_id is not None and definition_id not in k.versions:
        issues.append(
            _unknown("definition_id", definition_id, "definition", ids, "stored definitions")
        )
    if definition_version is not None:
        if definition_id in k.versions:
            pool, of = k.versions[definition_id], f" of {definition_id}"
        else:
            pool = [v for vs in k.versions.values() for v in vs]
            of = ""
        if definition_version not in pool:
            issues.append(
                _unknown(
                    "definition_version",
                    definition_version,
                    "definition version",
                    list(dict.fromkeys(pool)),
                    f"stored versions{of} (`pathway definitions`)",
                    after=of,
                )
            )
    if state is not None and state not in k.states:
        issues.append(_unknown("state", state, "state", k.states, "known states"))
    refuse(issues)


def refuse(issues: Sequence[Issue]) -> None:
    """Raise InvalidFilter with these issues, if any."""
    if issues:
        raise InvalidFilter(issues)


def page_issues(
    *,
    kinds: Sequence[str] | None = None,
    allowed_kinds: Sequence[str] = (),
    limit: int | None = None,
    offset: int = 0,
) -> list[Issue]:
    """What is wrong with a page's item kinds (unknown, or an empty list), limit (below 1) and
    offset (negative): none of them needs the database."""
    issues = []
    if kinds is not None:
        if isinstance(kinds, str) or not kinds:
            issues.append(
                Issue(
                    loc="kinds",
                    value=kinds,
                    message="give a list of item kinds, or None for every kind; "
                    f"known kinds: {', '.join(allowed_kinds)}",
                )
            )
        else:
            issues += [
                _unknown("kinds", k, "item kind", allowed_kinds, "known kinds")
                for k in kinds
                if k not in allowed_kinds
            ]
    if limit is not None and limit < 1:
        issues.append(
            Issue(
                loc="limit", value=limit, message="must be 1 or more (leave it out for every item)"
            )
        )
    if offset < 0:
        issues.append(Issue(loc="offset", value=offset, message="must be 0 or more"))
    return issues


def as_of_issues(
    conn: sa.Connection, as_of: dt.date | None, today: dt.date, what: str, latest: sa.Select[Any]
) -> list[Issue]:
    """An `as_of` earlier than the data `what` is built from: each patient's current state and
    stored items were worked out with what was known up to `latest` (the last day a state was
    entered, or items were worked out), so an earlier date would mix that day with later
    knowledge (negative days in a state, items worked out since). Read only for a past date."""
    if as_of is None or as_of >= today:
        return []
    found = conn.execute(latest).scalar()
    last = found if found is None or isinstance(found, dt.date) else dt.date.fromisoformat(found)
    if last is None or as_of >= last:
        return []
    return [
        Issue(
            loc="as_of",
            value=as_of.isoformat(),
            message=f"is before {last.isoformat()}, the last day {what}: the answer is built "
            "from each patient's current state, so it can be shown as of that day or later "
            "(a patient's history shows the past)",
        )
    ]


def _unknown(
    loc: str, value: str, what: str, choices: Sequence[str], listed: str, *, after: str = ""
) -> Issue:
    return Issue(
        loc=loc,
        value=value,
        message=f"unknown {what} {excerpt(value)}{after}{did_you_mean(value, choices)}; "
        f"{listed}: {', '.join(choices) or 'none'}",
    )
