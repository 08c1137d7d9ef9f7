"""The register's running counts on PostgreSQL: the triggers that keep them and the SQL
that folds and rebuilds them (models.Tally says what they are for).

Each trigger is a statement trigger with transition tables: one `UPDATE` of 2 000 KPIs
appends at most a row per (key, sign) it changed, not a row per KPI. Only the columns a
tally counts by matter; an update that changes none of them appends nothing.

Migration 0021 installs `TRIGGERS_SQL` and `TRUNCATE_SQL` and fills the tallies with
`REBUILD_SQL`;
`services.tallies_fold` runs `FOLD_SQL`.
"""

from __future__ import annotations

#: (table, key columns) of each tally
TALLIES = (
    ("improvement_registertally", ("step", "health", "value", "effort", "linked")),
    ("improvement_goaltally", ("goal_id", "step", "health")),
    ("improvement_kpitally", ("status", "step")),
    ("improvement_actiontally", ("due_date", "status", "step")),
)

#: (trigger name, table) of the tables the tallies count
COUNTED = (
    ("initiative", "improvement_initiative"),
    ("link", "improvement_initiative_goals"),
    ("kpi", "improvement_kpi"),
    ("action", "improvement_action"),
)

_LINKED = "EXISTS (SELECT 1 FROM improvement_initiative_goals l WHERE l.initiative_id = {}.id)"

TRIGGERS_SQL = f"""
CREATE FUNCTION improvement_tally_initiative() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
    SELECT step, health, value, effort, {_LINKED.format("r")}, count(*)
      FROM new_rows r GROUP BY 1, 2, 3, 4, 5;
  ELSIF TG_OP = 'DELETE' THEN
    -- its links, KPIs and actions are deleted before it (their keys refuse otherwise)
    INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
    SELECT step, health, value, effort, {_LINKED.format("r")}, -count(*)
      FROM old_rows r GROUP BY 1, 2, 3, 4, 5;
  ELSE
    -- one statement: the changed rows are read once, each tally written from them
    WITH changed AS MATERIALIZED (
      SELECT o.id, o.step AS old_step, o.health AS old_health, o.value AS old_value,
             o.effort AS old_effort, r.step, r.health, r.value, r.effort,
             {_LINKED.format("r")} AS linked
        FROM old_rows o JOIN new_rows r USING (id)
       WHERE (o.step, o.health, o.value, o.effort) IS DISTINCT FROM
             (r.step, r.health, r.value, r.effort)),
    register AS (
      INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
      SELECT step, health, value, effort, linked, sum(n) FROM (
        SELECT step, health, value, effort, linked, 1 AS n FROM changed
        UNION ALL
        SELECT old_step, old_health, old_value, old_effort, linked, -1 FROM changed) d
       GROUP BY 1, 2, 3, 4, 5 HAVING sum(n) <> 0),
    goals AS (
      INSERT INTO improvement_goaltally (goal_id, step, health, n)
      SELECT goal_id, step, health, sum(n) FROM (
        SELECT l.goal_id, c.step, c.health, 1 AS n
          FROM changed c JOIN improvement_initiative_goals l ON l.initiative_id = c.id
        UNION ALL
        SELECT l.goal_id, c.old_step, c.old_health, -1
          FROM changed c JOIN improvement_initiative_goals l ON l.initiative_id = c.id) d
       GROUP BY 1, 2, 3 HAVING sum(n) <> 0),
    kpis AS (
      INSERT INTO improvement_kpitally (status, step, n)
      SELECT status, step, sum(n) FROM (
        SELECT k.status, c.step, 1 AS n
          FROM changed c JOIN improvement_kpi k ON k.initiative_id = c.id
        UNION ALL
        SELECT k.status, c.old_step, -1
          FROM changed c JOIN improvement_kpi k ON k.initiative_id = c.id) d
       GROUP BY 1, 2 HAVING sum(n) <> 0)
    INSERT INTO improvement_actiontally (due_date, status, step, n)
    SELECT due_date, status, step, sum(n) FROM (
      SELECT a.due_date, a.status, c.step, 1 AS n
        FROM changed c JOIN improvement_action a ON a.initiative_id = c.id
      UNION ALL
      SELECT a.due_date, a.status, c.old_step, -1
        FROM changed c JOIN improvement_action a ON a.initiative_id = c.id) d
     GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION improvement_tally_link() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO improvement_goaltally (goal_id, step, health, n)
    SELECT r.goal_id, i.step, i.health, count(*)
      FROM new_rows r JOIN improvement_initiative i ON i.id = r.initiative_id
     GROUP BY 1, 2, 3;
    -- initiatives whose every link is new: they served no goal before this statement
    INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
    SELECT i.step, i.health, i.value, i.effort, d.linked, sum(d.n)
      FROM (SELECT r.initiative_id, count(*) AS added FROM new_rows r GROUP BY 1) f
      JOIN improvement_initiative i ON i.id = f.initiative_id
     CROSS JOIN (VALUES (true, 1), (false, -1)) d (linked, n)
     WHERE f.added = (SELECT count(*) FROM improvement_initiative_goals l
                       WHERE l.initiative_id = f.initiative_id)
     GROUP BY 1, 2, 3, 4, 5;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO improvement_goaltally (goal_id, step, health, n)
    SELECT r.goal_id, i.step, i.health, -count(*)
      FROM old_rows r JOIN improvement_initiative i ON i.id = r.initiative_id
     GROUP BY 1, 2, 3;
    -- initiatives left without a link: they served a goal before this statement
    INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
    SELECT i.step, i.health, i.value, i.effort, d.linked, sum(d.n)
      FROM (SELECT DISTINCT r.initiative_id FROM old_rows r) f
      JOIN improvement_initiative i ON i.id = f.initiative_id
     CROSS JOIN (VALUES (true, -1), (false, 1)) d (linked, n)
     WHERE NOT EXISTS (SELECT 1 FROM improvement_initiative_goals l
                        WHERE l.initiative_id = f.initiative_id)
     GROUP BY 1, 2, 3, 4, 5;
  ELSE
    RAISE EXCEPTION 'a link between an initiative and a goal is added or removed, never changed';
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION improvement_tally_kpi() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO improvement_kpitally (status, step, n)
    SELECT r.status, i.step, count(*)
      FROM new_rows r JOIN improvement_initiative i ON i.id = r.initiative_id GROUP BY 1, 2;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO improvement_kpitally (status, step, n)
    SELECT r.status, i.step, -count(*)
      FROM old_rows r JOIN improvement_initiative i ON i.id = r.initiative_id GROUP BY 1, 2;
  ELSE
    INSERT INTO improvement_kpitally (status, step, n)
    SELECT status, step, sum(n) FROM (
      SELECT r.status, i.step, 1 AS n, o.status AS old_status, o.initiative_id AS old_initiative
        FROM old_rows o JOIN new_rows r USING (id)
        JOIN improvement_initiative i ON i.id = r.initiative_id
       WHERE (o.status, o.initiative_id) IS DISTINCT FROM (r.status, r.initiative_id)
      UNION ALL
      SELECT o.status, i.step, -1, NULL, NULL
        FROM old_rows o JOIN new_rows r USING (id)
        JOIN improvement_initiative i ON i.id = o.initiative_id
       WHERE (o.status, o.initiative_id) IS DISTINCT FROM (r.status, r.initiative_id)) d
     GROUP BY 1, 2 HAVING sum(n) <> 0;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION improvement_tally_action() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO improvement_actiontally (due_date, status, step, n)
    SELECT r.due_date, r.status, i.step, count(*)
      FROM new_rows r JOIN improvement_initiative i ON i.id = r.initiative_id
     GROUP BY 1, 2, 3;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO improvement_actiontally (due_date, status, step, n)
    SELECT r.due_date, r.status, i.step, -count(*)
      FROM old_rows r JOIN improvement_initiative i ON i.id = r.initiative_id
     GROUP BY 1, 2, 3;
  ELSE
    INSERT INTO improvement_actiontally (due_date, status, step, n)
    SELECT due_date, status, step, sum(n) FROM (
      SELECT r.due_date, r.status, i.step, 1 AS n
        FROM old_rows o JOIN new_rows r USING (id)
        JOIN improvement_initiative i ON i.id = r.initiative_id
       WHERE (o.due_date, o.status, o.initiative_id) IS DISTINCT FROM
             (r.due_date, r.status, r.initiative_id)
      UNION ALL
      SELECT o.due_date, o.status, i.step, -1
        FROM old_rows o JOIN new_rows r USING (id)
        JOIN improvement_initiative i ON i.id = o.initiative_id
       WHERE (o.due_date, o.status, o.initiative_id) IS DISTINCT FROM
             (r.due_date, r.status, r.initiative_id)) d
     GROUP BY 1, 2, 3 HAVING sum(n) <> 0;
  END IF;
  RETURN NULL;
END $$;
""" + "".join(
    f"""
CREATE TRIGGER improvement_tally_{name}_insert AFTER INSERT ON {table}
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION improvement_tally_{name}();
CREATE TRIGGER improvement_tally_{name}_update AFTER UPDATE ON {table}
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION improvement_tally_{name}();
CREATE TRIGGER improvement_tally_{name}_delete AFTER DELETE ON {table}
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION improvement_tally_{name}();
"""
    for name, table in COUNTED
)

DROP_SQL = """
DROP FUNCTION IF EXISTS improvement_tally_initiative() CASCADE;
DROP FUNCTION IF EXISTS improvement_tally_link() CASCADE;
DROP FUNCTION IF EXISTS improvement_tally_kpi() CASCADE;
DROP FUNCTION IF EXISTS improvement_tally_action() CASCADE;
DROP FUNCTION IF EXISTS improvement_tally_truncated() CASCADE;
"""

#: every tally counted again from its tables (the migration's fill; a repair)
REBUILD_SQL = f"""
DELETE FROM improvement_registertally;
INSERT INTO improvement_registertally (step, health, value, effort, linked, n)
SELECT step, health, value, effort, {_LINKED.format("i")}, count(*)
  FROM improvement_initiative i GROUP BY 1, 2, 3, 4, 5;
DELETE FROM improvement_goaltally;
INSERT INTO improvement_goaltally (goal_id, step, health, n)
SELECT l.goal_id, i.step, i.health, count(*)
  FROM improvement_initiative_goals l JOIN improvement_initiative i ON i.id = l.initiative_id
 GROUP BY 1, 2, 3;
DELETE FROM improvement_kpitally;
INSERT INTO improvement_kpitally (status, step, n)
SELECT k.status, i.step, count(*)
  FROM improvement_kpi k JOIN improvement_initiative i ON i.id = k.initiative_id GROUP BY 1, 2;
DELETE FROM improvement_actiontally;
INSERT INTO improvement_actiontally (due_date, status, step, n)
SELECT a.due_date, a.status, i.step, count(*)
  FROM improvement_action a JOIN improvement_initiative i ON i.id = a.initiative_id
 GROUP BY 1, 2, 3;
"""


#: TRUNCATE fires no row or statement trigger of the kinds above: a truncated table counts
#: its tallies again from scratch (truncating is an operator's or a benchmark's act)
TRUNCATE_SQL = (
    """
CREATE FUNCTION improvement_tally_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
"""
    + REBUILD_SQL
    + """
  RETURN NULL;
END $$;
"""
    + "".join(
        f"CREATE TRIGGER improvement_tally_{name}_truncate AFTER TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION improvement_tally_truncated();\n"
        for name, table in COUNTED
    )
)


def fold_sql(table: str, keys: tuple[str, ...]) -> str:
    """One statement replacing every row of `table` by one per key, its sum (a key whose
    rows sum to nothing disappears). Rows appended meanwhile by other transactions are
    not in its snapshot: they stay, and are folded next time."""
    columns = ", ".join(keys)
    return (
        f"WITH gone AS (DELETE FROM {table} RETURNING {columns}, n) "  # noqa: S608
        f"INSERT INTO {table} ({columns}, n) SELECT {columns}, sum(n) FROM gone "
        f"GROUP BY {columns} HAVING sum(n) <> 0"
    )
