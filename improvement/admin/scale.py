"""What keeps the admin's lists as fast on a register of 100 000 initiatives and 10 M
measurements as on a small one: an estimated count where an exact one costs a full scan,
and the filters that the portfolio's "all N →" links open."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from .. import choices
from ..models import Action
from ..web.pages import ATTENTION_STATUSES

#: above this many rows (by the planner's statistics) an unfiltered list shows an estimate
ESTIMATE_ABOVE = 50_000


def estimated_rows(model, using: str = "default") -> int | None:
    """The planner's estimate of `model`'s table size (PostgreSQL's pg_class.reltuples,
    kept by ANALYZE and autovacuum); None elsewhere or when the table was never analysed."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cur:
        cur.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [model._meta.db_table],
        )
        row = cur.fetchone()
    return row[0] if row and row[0] is not None and row[0] >= 0 else None


def table_count(model, using: str = "default") -> int:
    """How many rows `model`'s table holds, in one query on PostgreSQL: the planner's
    estimate (pg_class.reltuples) above ESTIMATE_ABOVE rows, an exact count below (at most
    ESTIMATE_ABOVE + 1), so a list asks the same number of queries whatever its size."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return model._default_manager.using(using).count()
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cur:
        # the count is an InitPlan: PostgreSQL runs it only when the CASE reaches it. It
        # stops one row past the limit: a table whose statistics are stale (never analysed,
        # or just bulk-loaded) is not scanned whole, and the plan of a bounded count stays
        # cheap (a bare count(*) of 10 M rows is priced high enough to be JIT-compiled,
        # 8 ms of every request, although it never runs)
        cur.execute(
            f"SELECT CASE WHEN c.reltuples > %s THEN c.reltuples::bigint "  # noqa: S608
            f"ELSE (SELECT count(*) FROM (SELECT FROM {table} LIMIT %s) AS bounded) END "
            "FROM pg_class c WHERE c.oid = to_regclass(%s)",
            [ESTIMATE_ABOVE, ESTIMATE_ABOVE + 1, model._meta.db_table],
        )
        return cur.fetchone()[0]


class EstimatedCountPaginator(Paginator):
    """Counts exactly, unless the list is unfiltered and its table is big: then the
    planner's estimate (what a count would find give or take the rows written since the
    last ANALYZE), read in one cheap query instead of scanning every row."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if (
            query is not None
            and not query.where
            and not query.distinct
            and not query.is_sliced
            and not query.combinator
        ):
            return table_count(queryset.model, queryset.db)
        return super().count


class ScaleAdminMixin:
    """A list that costs the same at any size: the estimated count above, and no second
    count of the whole table beside a filtered one."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


class AttentionFilter(admin.SimpleListFilter):
    """KPIs that need a CSI manager's attention, as the portfolio counts them: at risk,
    regressed, missed or reverted, of initiatives still checked."""

    title = "needs attention"
    parameter_name = "attention"

    def lookups(self, request, model_admin):
        return (("yes", "At risk, regressed, missed or reverted"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(
                status__in=ATTENTION_STATUSES, initiative__step__in=choices.LIVE_STEPS
            )
        return queryset


class OverdueFilter(admin.SimpleListFilter):
    """Actions past their due date, not done nor dropped, of open initiatives (the
    portfolio's overdue actions)."""

    title = "overdue"
    parameter_name = "overdue"

    def lookups(self, request, model_admin):
        return (("yes", "Overdue"),)

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(pk__in=Action.objects.overdue().values("pk"))
        return queryset
