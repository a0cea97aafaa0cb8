"""A paginator for tables of a million rows: it never counts the whole table.

Django's admin asks the paginator for ``count`` on every list page, and the
default is ``SELECT COUNT(*)`` over the filtered queryset: at a million claims
that reads the whole table (or its smallest index) on each page view.

- No filter and no search (the queryset has no WHERE): PostgreSQL's own estimate,
  ``pg_class.reltuples``, kept up to date by ANALYZE and autovacuum, when it is
  above ``cap``; a small or never-analysed table (``reltuples`` -1) is counted
  exactly, which is cheap. One statement either way, as many as Django's own count.
- Filtered or searched: a count bounded by ``cap`` (``SELECT COUNT(*) FROM
  (… LIMIT cap + 1)``), so at worst ``cap + 1`` matching rows are read. When more
  match, the count says ``cap + 1`` and the pages stop there: nobody pages past
  the hundredth page; they narrow the filter.
- SQLite (the embedded run): no estimate; the same capped count.
"""

from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

COUNT_CAP = 10_000


class EstimatedCountPaginator(Paginator):
    cap = COUNT_CAP
    estimated = False  # the count is the planner's estimate
    capped = False  # more rows match than the count says

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is None:  # a list, in tests or elsewhere
            return len(queryset)
        if not query.where and not query.distinct and connections[queryset.db].vendor == "postgresql":
            sql, params = estimate_or_count_sql(queryset, self.cap)
            with connections[queryset.db].cursor() as cursor:
                cursor.execute(sql, params)
                row = cursor.fetchone()
            if row is not None:
                self.estimated, count = row
                self.capped = not self.estimated and count > self.cap
                return count
        count = queryset.order_by()[: self.cap + 1].count()
        self.capped = count > self.cap
        return count


def estimate_or_count_sql(queryset, cap: int) -> tuple[str, list]:
    """One statement: the table's estimate when above ``cap``, else the count bounded at ``cap + 1``.

    PostgreSQL runs the ``CASE``'s count only when its branch is taken: on a big table the
    count subquery is never executed (``EXPLAIN ANALYZE`` says so), on a small one it is cheap.
    """
    bounded, params = queryset.order_by().values("pk")[: cap + 1].query.sql_with_params()
    sql = (
        "SELECT c.reltuples > %s, CASE WHEN c.reltuples > %s THEN c.reltuples::bigint "
        f"ELSE (SELECT COUNT(*) FROM ({bounded}) AS bounded) END "
        "FROM pg_class c WHERE c.oid = to_regclass(%s)"
    )
    return sql, [cap, cap, *params, queryset.model._meta.db_table]
