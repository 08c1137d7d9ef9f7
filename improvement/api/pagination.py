"""Pagination of API lists: limit/offset, 50 by default, at most 1000 (SPEC §4);
measurements by cursor (newest first), which stays fast however deep a client pages.

A malformed `limit` or `offset` is a 400, not silently the default; a `limit` above the
maximum is capped.
"""

from django.utils.dateparse import parse_datetime
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError

#: beyond this an offset is an empty page anyway; capped so the database never overflows
MAX_OFFSET = 2**53


def _integer_param(request, name: str, *, minimum: int):
    """The query parameter `name` as an integer ≥ minimum; None when absent; 400 if bad."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 30 or int(raw) < minimum:
        raise ValidationError({name: [f"An integer of at least {minimum} is required."]})
    return int(raw)


def _with_minimums(parameters: list[dict], **minimums: int) -> list[dict]:
    for parameter in parameters:
        if parameter["name"] in minimums:
            parameter["schema"] = {**parameter["schema"], "minimum": minimums[parameter["name"]]}
    return parameters


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000

    def get_limit(self, request):
        limit = _integer_param(request, self.limit_query_param, minimum=1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request):
        offset = _integer_param(request, self.offset_query_param, minimum=0)
        return 0 if offset is None else min(offset, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        return _with_minimums(super().get_schema_operation_parameters(view), limit=1, offset=0)


class MeasurementCursorPagination(pagination.CursorPagination):
    """Measurements of a KPI, newest first; `limit` sets the page size (at most 1000)."""

    ordering = "-measured_at"
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 1000

    def get_page_size(self, request):
        size = _integer_param(request, self.page_size_query_param, minimum=1)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        return _with_minimums(super().get_schema_operation_parameters(view), limit=1)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        # a tampered cursor must be a 404, not a malformed filter deeper down
        if cursor is not None and cursor.position is not None:
            try:
                valid = parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise NotFound(self.invalid_cursor_message)
        return cursor
