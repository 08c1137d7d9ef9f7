"""How the API reads a request and what it answers in: JSON, nested to a bounded depth.

A body nested deeper than any resource needs is refused (a few kilobytes of brackets would
otherwise exhaust the parser's recursion). The body's size is bounded by Django's
DATA_UPLOAD_MAX_MEMORY_SIZE, read before this parser runs; errors.py answers it with 413.
"""

from __future__ import annotations

from rest_framework.exceptions import NotAcceptable, ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser

#: the deepest nesting of arrays and objects a body may have: the deepest resource (a list
#: of measurement rows, a review's KPI snapshot) needs 4
MAX_DEPTH = 32
TOO_DEEP = f"The JSON is nested too deeply (at most {MAX_DEPTH} levels of arrays and objects)."


def nested_deeper_than(data, limit: int) -> bool:
    """Whether parsed JSON nests arrays and objects deeper than `limit` (iterative: it never
    recurses itself)."""
    if type(data) is not dict and type(data) is not list:
        return False
    stack = [(data, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        for child in node.values() if type(node) is dict else node:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return False


class CIRJSONParser(JSONParser):
    """DRF's strict JSON parser (NaN and Infinity refused), with nesting capped at
    MAX_DEPTH."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nested_deeper_than(data, MAX_DEPTH):
            raise ParseError(TOO_DEEP)
        return data


class JSONContentNegotiation(DefaultContentNegotiation):
    """The API answers JSON whatever the Accept header asks for (a browser asks for
    text/html first): JSON is more use to a reader than a 406."""

    def select_renderer(self, request, renderers, format_suffix=None):
        try:
            return super().select_renderer(request, renderers, format_suffix)
        except NotAcceptable:
            return renderers[0], renderers[0].media_type
