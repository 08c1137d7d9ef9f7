"""The register's running counts (models.Tally): folded on a schedule, rebuilt on demand.

The triggers of migration 0021 keep them; nothing here is needed for them to be right,
only for them to stay few rows: every statement that changes a count appends a row, and
folding replaces each key's rows by one.
"""

from __future__ import annotations

from django.db import connection, transaction

from ..tallies import REBUILD_SQL, TALLIES, fold_sql

#: the advisory lock that keeps two folds (two beats, a fold and a rebuild) apart
FOLD_LOCK = 0x43495254  # "CIRT"


def tallies_fold() -> int:
    """Replace each tally's rows by one per key; returns how many rows it folded away.
    Nothing to do on databases without the triggers (their tallies stay empty)."""
    if connection.vendor != "postgresql":
        return 0
    removed = 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [FOLD_LOCK])
        if not cursor.fetchone()[0]:
            return 0  # another fold is at work
        for table, keys in TALLIES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 (our table names)
            before = cursor.fetchone()[0]
            cursor.execute(fold_sql(table, keys))
            removed += before - cursor.rowcount
    return removed


def tallies_rebuild() -> None:
    """Count every tally again from its tables (a repair; the migration's first fill).
    Locks the counted tables against writes for its transaction."""
    if connection.vendor != "postgresql":
        return
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FOLD_LOCK])
        cursor.execute(
            "LOCK TABLE improvement_initiative, improvement_initiative_goals, improvement_kpi, "
            "improvement_action IN SHARE MODE"
        )
        cursor.execute(REBUILD_SQL)
