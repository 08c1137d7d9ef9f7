"""Pagination of API lists: limit/offset, 50 by default, at most 1000 (SPEC §4)."""

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    default_limit = 50
    max_limit = 1000
