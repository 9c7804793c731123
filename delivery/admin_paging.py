"""Paging admin lists of tables with millions of rows without counting them."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property

# Rows counted at most: enough for a hundred pages; narrow the list with filters beyond that.
COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows (`SELECT COUNT(*) FROM (… LIMIT n)`), never the table.

    `capped` says whether there are more rows than `count` shows.
    """

    @cached_property
    def _counted(self) -> int:
        return self.object_list.values("pk")[: COUNT_CAP + 1].count()

    @cached_property
    def count(self) -> int:
        return min(self._counted, COUNT_CAP)

    @property
    def capped(self) -> bool:
        return self._counted > COUNT_CAP
