"""SQL of the cohort rollup: tables, triggers (SQLite and PostgreSQL), backfill, and the reads.

Six tables, kept by an AFTER INSERT trigger on `event`, in the transaction of each move:

- `cohort_edge`: moves per (definition, from, trigger, to, kind), enrollments as kind
  `enrolled` from ''; `last_on` is the latest effective date counted (the read checks it).
- `cohort_now`: patients in each state now, by `since` = the day they entered it minus the days
  of their earlier visits to it, so their days in the state at any date D are D - since.
- `cohort_stay`: a histogram of each patient's days in a state they are not in now (visits
  added up).
- `cohort_patient_days`: each patient's days in each state they have left (visits added up),
  which the trigger needs when a patient comes back to a state.
- `cohort_edge_day`: moves and enrollments per edge by effective day, for date windows: the
  moves in a window, and the patients in each state on any day (the patients now, minus the
  net flow into the state after that day).
- `cohort_stay_day`: a histogram of stays by the day they ended: state, length in days (from
  the day the state was entered; a move from a state to itself does not end a stay).
"""

from __future__ import annotations

MOVES = "('enrolled', 'transition', 'override')"
EDGE_KEY = 'definition_id, definition_version, from_state, "trigger", to_state, kind'
DAY_EDGE_KEY = 'day, definition_id, definition_version, from_state, "trigger", to_state, kind'
DAY_STAY_KEY = "day, definition_id, definition_version, state, days"
TABLES = (
    "cohort_edge",
    "cohort_now",
    "cohort_stay",
    "cohort_patient_days",
    "cohort_edge_day",
    "cohort_stay_day",
)


def stay_starts(t: str = "") -> str:
    """The events that start a stay (an enrollment, or a move from another state), `t` their
    table's alias with its dot."""
    return (
        f"({t}kind = 'enrolled' OR ({t}kind IN ('transition', 'override') "
        f"AND {t}from_state <> {t}to_state))"
    )


def create_tables(dialect: str) -> list[str]:
    """The six tables (portable DDL; on SQLite the by-day tables are clustered on their key)."""
    d = "definition_id VARCHAR(64) NOT NULL, definition_version VARCHAR(32) NOT NULL"
    clustered = "" if dialect == "postgresql" else " WITHOUT ROWID"
    return [
        f"""CREATE TABLE cohort_edge_day (day DATE NOT NULL, {d},
            from_state VARCHAR(64) NOT NULL, "trigger" VARCHAR(64) NOT NULL,
            to_state VARCHAR(64) NOT NULL, kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL,
            PRIMARY KEY ({DAY_EDGE_KEY})){clustered}""",
        f"""CREATE TABLE cohort_stay_day (day DATE NOT NULL, {d}, state VARCHAR(64) NOT NULL,
            days INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY ({DAY_STAY_KEY})){clustered}""",
        f"""CREATE TABLE cohort_edge ({d}, from_state VARCHAR(64) NOT NULL,
            "trigger" VARCHAR(64) NOT NULL, to_state VARCHAR(64) NOT NULL,
            kind VARCHAR(16) NOT NULL, n INTEGER NOT NULL, last_on DATE NOT NULL,
            PRIMARY KEY ({EDGE_KEY}))""",
        f"""CREATE TABLE cohort_now ({d}, state VARCHAR(64) NOT NULL, since DATE NOT NULL,
            n INTEGER NOT NULL, PRIMARY KEY (definition_id, definition_version, state, since))""",
        f"""CREATE TABLE cohort_stay ({d}, state VARCHAR(64) NOT NULL, days INTEGER NOT NULL,
            n INTEGER NOT NULL, PRIMARY KEY (definition_id, definition_version, state, days))""",
        """CREATE TABLE cohort_patient_days (patient_id VARCHAR(64) NOT NULL,
            state VARCHAR(64) NOT NULL, days INTEGER NOT NULL, PRIMARY KEY (patient_id, state))""",
    ]


def drop() -> list[str]:
    """Everything `create_*` made (either dialect; missing objects are fine)."""
    return [
        "DROP TRIGGER IF EXISTS cohort_enrolled",
        "DROP TRIGGER IF EXISTS cohort_moved",
        *(f"DROP TABLE IF EXISTS {t}" for t in TABLES),
    ]


def drop_postgresql() -> list[str]:
    """PostgreSQL: the trigger lives on the table, the function separately."""
    return [
        "DROP TRIGGER IF EXISTS cohort_rollup ON event",
        "DROP FUNCTION IF EXISTS cohort_rollup()",
        *(f"DROP TABLE IF EXISTS {t}" for t in TABLES),
    ]


def sqlite_triggers() -> list[str]:
    """Two triggers: enrollments, and moves (a self-loop only adds to the edge and the days)."""
    enr = "FROM enrollment e WHERE e.patient_id = NEW.patient_id"
    entered = (
        "(SELECT p.effective_on FROM event p WHERE p.patient_id = NEW.patient_id AND "
        f"p.version < NEW.version AND p.kind IN {MOVES} ORDER BY p.version DESC LIMIT 1)"
    )
    before = (
        "COALESCE((SELECT d.days FROM cohort_patient_days d WHERE d.patient_id = NEW.patient_id "
        "AND d.state = NEW.from_state), 0)"
    )
    back = (
        "(SELECT d.days FROM cohort_patient_days d WHERE d.patient_id = NEW.patient_id "
        "AND d.state = NEW.to_state)"
    )
    stayed = f"max(0, CAST(julianday(NEW.effective_on) - julianday({entered}) AS INTEGER))"
    same_def = (
        f"definition_id = (SELECT e.definition_id {enr}) "
        f"AND definition_version = (SELECT e.definition_version {enr})"
    )
    moved = "NEW.from_state <> NEW.to_state"
    began = (
        "(SELECT p.effective_on FROM event p WHERE p.patient_id = NEW.patient_id AND "
        f"p.version < NEW.version AND {stay_starts('p.')} ORDER BY p.version DESC LIMIT 1)"
    )
    stay = f"max(0, CAST(julianday(NEW.effective_on) - julianday({began}) AS INTEGER))"
    return [
        f"""CREATE TRIGGER cohort_enrolled AFTER INSERT ON event WHEN NEW.kind = 'enrolled'
BEGIN
  INSERT INTO cohort_edge SELECT e.definition_id, e.definition_version, '', '', NEW.to_state,
    'enrolled', 1, NEW.effective_on {enr}
    ON CONFLICT ({EDGE_KEY}) DO UPDATE SET n = n + 1, last_on = max(last_on, excluded.last_on);
  INSERT INTO cohort_edge_day SELECT NEW.effective_on, e.definition_id, e.definition_version,
    '', '', NEW.to_state, 'enrolled', 1 {enr}
    ON CONFLICT ({DAY_EDGE_KEY}) DO UPDATE SET n = n + 1;
  INSERT INTO cohort_now SELECT e.definition_id, e.definition_version, NEW.to_state,
    NEW.effective_on, 1 {enr}
    ON CONFLICT (definition_id, definition_version, state, since) DO UPDATE SET n = n + 1;
END""",
        f"""CREATE TRIGGER cohort_moved AFTER INSERT ON event
WHEN NEW.kind IN ('transition', 'override')
BEGIN
  INSERT INTO cohort_edge SELECT e.definition_id, e.definition_version, NEW.from_state,
    COALESCE(NEW."trigger", ''), NEW.to_state, NEW.kind, 1, NEW.effective_on {enr}
    ON CONFLICT ({EDGE_KEY}) DO UPDATE SET n = n + 1, last_on = max(last_on, excluded.last_on);
  INSERT INTO cohort_edge_day SELECT NEW.effective_on, e.definition_id, e.definition_version,
    NEW.from_state, COALESCE(NEW."trigger", ''), NEW.to_state, NEW.kind, 1 {enr}
    ON CONFLICT ({DAY_EDGE_KEY}) DO UPDATE SET n = n + 1;
  INSERT INTO cohort_stay_day SELECT NEW.effective_on, e.definition_id, e.definition_version,
    NEW.from_state, {stay}, 1 {enr} AND {moved}
    ON CONFLICT ({DAY_STAY_KEY}) DO UPDATE SET n = n + 1;
  UPDATE cohort_now SET n = n - 1 WHERE {moved} AND {same_def} AND state = NEW.from_state
    AND since = date({entered}, '-' || {before} || ' days');
  INSERT INTO cohort_stay SELECT e.definition_id, e.definition_version, NEW.from_state,
    {before} + {stayed}, 1 {enr} AND {moved}
    ON CONFLICT (definition_id, definition_version, state, days) DO UPDATE SET n = n + 1;
  UPDATE cohort_stay SET n = n - 1 WHERE {moved} AND {same_def} AND state = NEW.to_state
    AND days = {back};
  INSERT INTO cohort_now SELECT e.definition_id, e.definition_version, NEW.to_state,
    date(NEW.effective_on, '-' || COALESCE({back}, 0) || ' days'), 1 {enr} AND {moved}
    ON CONFLICT (definition_id, definition_version, state, since) DO UPDATE SET n = n + 1;
  INSERT INTO cohort_patient_days VALUES (NEW.patient_id, NEW.from_state, {before} + {stayed})
    ON CONFLICT (patient_id, state) DO UPDATE SET days = excluded.days;
END""",
    ]


def postgresql_triggers() -> list[str]:
    """One PL/pgSQL trigger function.

    Counter rows are locked in one global order (the edge first, then its day, then by state
    name, and in a state `cohort_now` before `cohort_stay`; the ended stay's day last), so
    concurrent moves between the same two states in opposite directions cannot deadlock.
    """
    edge_day = (
        f"INSERT INTO cohort_edge_day VALUES (NEW.effective_on, did, dver, {{src}}, {{trg}}, "
        f"NEW.to_state, NEW.kind, 1) ON CONFLICT ({DAY_EDGE_KEY}) DO UPDATE "
        "SET n = cohort_edge_day.n + 1;"
    )
    now_up = (
        "INSERT INTO cohort_now VALUES (did, dver, {state}, {since}, {n}) ON CONFLICT "
        "(definition_id, definition_version, state, since) DO UPDATE SET n = cohort_now.n + {n};"
    )
    stay_up = (
        "INSERT INTO cohort_stay VALUES (did, dver, {state}, {days}, {n}) ON CONFLICT "
        "(definition_id, definition_version, state, days) DO UPDATE SET n = cohort_stay.n + {n};"
    )
    leave = (
        now_up.format(state="NEW.from_state", since="entered - p", n="-1")
        + "\n      "
        + stay_up.format(state="NEW.from_state", days="p + d", n="1")
    )
    enter = (
        now_up.format(state="NEW.to_state", since="NEW.effective_on - COALESCE(q, 0)", n="1")
        + "\n      IF q IS NOT NULL THEN "
        + stay_up.format(state="NEW.to_state", days="q", n="-1")
        + " END IF;"
    )
    moved_day = edge_day.format(src="NEW.from_state", trg="COALESCE(NEW.\"trigger\", '')")
    return [
        f"""CREATE OR REPLACE FUNCTION cohort_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  did varchar; dver varchar; entered date; began date; p integer; q integer; d integer;
BEGIN
  SELECT definition_id, definition_version INTO did, dver
    FROM enrollment WHERE patient_id = NEW.patient_id;
  IF NEW.kind = 'enrolled' THEN
    INSERT INTO cohort_edge VALUES (did, dver, '', '', NEW.to_state, 'enrolled', 1,
      NEW.effective_on) ON CONFLICT ({EDGE_KEY}) DO UPDATE
      SET n = cohort_edge.n + 1, last_on = GREATEST(cohort_edge.last_on, EXCLUDED.last_on);
    {edge_day.format(src="''", trg="''")}
    {now_up.format(state="NEW.to_state", since="NEW.effective_on", n="1")}
    RETURN NULL;
  END IF;
  SELECT effective_on INTO entered FROM event WHERE patient_id = NEW.patient_id
    AND version < NEW.version AND kind IN {MOVES} ORDER BY version DESC LIMIT 1;
  SELECT days INTO p FROM cohort_patient_days
    WHERE patient_id = NEW.patient_id AND state = NEW.from_state;
  p := COALESCE(p, 0);
  SELECT days INTO q FROM cohort_patient_days
    WHERE patient_id = NEW.patient_id AND state = NEW.to_state;
  d := GREATEST(0, NEW.effective_on - entered);
  INSERT INTO cohort_edge VALUES (did, dver, NEW.from_state, COALESCE(NEW."trigger", ''),
    NEW.to_state, NEW.kind, 1, NEW.effective_on) ON CONFLICT ({EDGE_KEY}) DO UPDATE
    SET n = cohort_edge.n + 1, last_on = GREATEST(cohort_edge.last_on, EXCLUDED.last_on);
  {moved_day}
  IF NEW.from_state <> NEW.to_state THEN
    IF NEW.from_state < NEW.to_state THEN
      {leave}
      {enter}
    ELSE
      {enter}
      {leave}
    END IF;
    SELECT effective_on INTO began FROM event WHERE patient_id = NEW.patient_id
      AND version < NEW.version AND {stay_starts()} ORDER BY version DESC LIMIT 1;
    INSERT INTO cohort_stay_day VALUES (NEW.effective_on, did, dver, NEW.from_state,
      GREATEST(0, NEW.effective_on - began), 1) ON CONFLICT ({DAY_STAY_KEY}) DO UPDATE
      SET n = cohort_stay_day.n + 1;
  END IF;
  INSERT INTO cohort_patient_days VALUES (NEW.patient_id, NEW.from_state, p + d)
    ON CONFLICT (patient_id, state) DO UPDATE SET days = EXCLUDED.days;
  RETURN NULL;
END $$""",
        f"""CREATE TRIGGER cohort_rollup AFTER INSERT ON event FOR EACH ROW
WHEN (NEW.kind IN {MOVES}) EXECUTE FUNCTION cohort_rollup()""",
    ]


def backfill(dialect: str) -> list[str]:
    """Fill the tables from the log as it is (run with writers locked out)."""
    pg = dialect == "postgresql"
    days = (
        "GREATEST(0, nxt - eff)"
        if pg
        else "max(0, CAST(julianday(nxt) - julianday(eff) AS INTEGER))"
    )
    stay = (
        "GREATEST(0, left_on - eff)"
        if pg
        else "max(0, CAST(julianday(left_on) - julianday(eff) AS INTEGER))"
    )
    minus = (
        "m.eff - COALESCE(pd.days, 0)"
        if pg
        else "date(m.eff, '-' || COALESCE(pd.days, 0) || ' days')"
    )
    return [
        f"""CREATE TEMPORARY TABLE cohort_m AS
SELECT v.patient_id AS pid, v.version AS ver, v.kind AS kind, COALESCE(v."trigger", '') AS trg,
       COALESCE(v.from_state, '') AS src, v.to_state AS state, v.effective_on AS eff,
       LEAD(v.effective_on) OVER (PARTITION BY v.patient_id ORDER BY v.version) AS nxt,
       e.definition_id AS did, e.definition_version AS dver
FROM event v JOIN enrollment e ON e.patient_id = v.patient_id WHERE v.kind IN {MOVES}""",
        """INSERT INTO cohort_edge SELECT did, dver, src, trg, state, kind, COUNT(*), MAX(eff)
FROM cohort_m GROUP BY did, dver, src, trg, state, kind""",
        f"""INSERT INTO cohort_patient_days SELECT pid, state, SUM({days}) FROM cohort_m
WHERE nxt IS NOT NULL GROUP BY pid, state""",
        f"""INSERT INTO cohort_now SELECT m.did, m.dver, m.state, {minus}, COUNT(*)
FROM cohort_m m LEFT JOIN cohort_patient_days pd ON pd.patient_id = m.pid AND pd.state = m.state
WHERE m.nxt IS NULL GROUP BY m.did, m.dver, m.state, {minus}""",
        """INSERT INTO cohort_stay SELECT e.definition_id, e.definition_version, pd.state, pd.days,
COUNT(*) FROM cohort_patient_days pd JOIN enrollment e ON e.patient_id = pd.patient_id
WHERE pd.state <> e.state GROUP BY e.definition_id, e.definition_version, pd.state, pd.days""",
        """INSERT INTO cohort_edge_day SELECT eff, did, dver, src, trg, state, kind, COUNT(*)
FROM cohort_m GROUP BY eff, did, dver, src, trg, state, kind""",
        """CREATE TEMPORARY TABLE cohort_st AS
SELECT did, dver, state, eff, LEAD(eff) OVER (PARTITION BY pid ORDER BY ver) AS left_on
FROM cohort_m WHERE kind = 'enrolled' OR src <> state""",
        f"""INSERT INTO cohort_stay_day SELECT left_on, did, dver, state, {stay}, COUNT(*)
FROM cohort_st WHERE left_on IS NOT NULL GROUP BY left_on, did, dver, state, {stay}""",
        "DROP TABLE cohort_st",
        "DROP TABLE cohort_m",
    ]


def read(dialect: str, *, by_id: bool, by_version: bool) -> tuple[str, str, str]:
    """Three statements for the driver (its own placeholders): the edges, with the days from
    their latest move to the end date; the patients now, by state and days in it; the stays.
    Separate plain statements: a few thousand rows cost less this way than as one UNION."""
    pg = dialect == "postgresql"

    def param(name: str) -> str:
        return f"%({name})s" if pg else f":{name}"

    end = f"CAST({param('end')} AS DATE)" if pg else param("end")

    def age(col: str) -> str:
        return f"({end} - {col})" if pg else f"CAST(julianday({end}) - julianday({col}) AS INTEGER)"

    where = ["n > 0"]
    if by_id:
        where.append(f"definition_id = {param('definition_id')}")
    if by_version:
        where.append(f"definition_version = {param('definition_version')}")
    w = " AND ".join(where)
    return (
        f'SELECT kind, from_state, "trigger", to_state, {age("last_on")}, n '
        f"FROM cohort_edge WHERE {w}",
        f"SELECT state, {age('since')}, n FROM cohort_now WHERE {w}",
        f"SELECT state, days, n FROM cohort_stay WHERE {w}",
    )


def read_window(dialect: str, *, by_id: bool, by_version: bool) -> tuple[str, str, str]:
    """Three statements for a window from `since` to `end`: the patients now per state; the
    moves and enrollments per edge from `since` on, split by whether they fall after `end`;
    the stays that ended in the window, by state and length."""
    pg = dialect == "postgresql"

    def param(name: str) -> str:
        p = f"%({name})s" if pg else f":{name}"
        return f"CAST({p} AS DATE)" if pg and name in ("since", "end") else p

    where = []
    if by_id:
        where.append(f"definition_id = {param('definition_id')}")
    if by_version:
        where.append(f"definition_version = {param('definition_version')}")
    w = "".join(f" AND {c}" for c in where)
    since, end = param("since"), param("end")
    return (
        f"SELECT state, SUM(n) FROM cohort_now WHERE n <> 0{w} GROUP BY state",
        f'SELECT kind, from_state, "trigger", to_state, day > {end} AS late, SUM(n) '
        f"FROM cohort_edge_day WHERE day >= {since}{w} "
        "GROUP BY 1, 2, 3, 4, 5",
        f"SELECT state, days, SUM(n) FROM cohort_stay_day "
        f"WHERE day >= {since} AND day <= {end}{w} GROUP BY state, days",
    )
