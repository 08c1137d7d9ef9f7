"""The OpenAPI schema's view of CIR: every operation documents the errors it can answer,
in the one error shape, so that clients (and schemathesis) know what to expect."""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema, extend_schema_view

from .errors import ErrorSerializer

ERROR_DESCRIPTIONS = {
    "400": "Bad input: field errors (or per-row errors for measurements).",
    "401": "Not authenticated: send `Authorization: Token <token>`.",
    "403": "Your role or RACI position does not allow this; the message names who may.",
    "404": "Not found, or not visible to you.",
    "409": "A workflow conflict: the move's unmet conditions, a concurrent change or a "
    "stale view (`from`, `If-Match`), a locked KPI field.",
}
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class CIRAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the error responses of each operation."""

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        codes = ["400"]
        if self.view.get_permissions():  # the token endpoint is open
            codes += ["401", "403"]
        if "{" in path:
            codes.append("404")
        if self.method in WRITE_METHODS and "{" in path:
            codes.append("409")
        # filters and pagination read an empty value as "not given" (django-filter's rule)
        for parameter in operation.get("parameters", []):
            if parameter.get("in") == "query" and not parameter.get("required"):
                parameter["allowEmptyValue"] = True
        error = self.resolve_serializer(ErrorSerializer, "response").ref
        responses = operation["responses"]
        for code in codes:
            responses.setdefault(
                code,
                {
                    "description": ERROR_DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": error}},
                },
            )
        return operation


def operations(tag: str, **specs):
    """extend_schema_view for the operations of one tag: each spec is a summary, or a dict
    of extend_schema's arguments."""
    return extend_schema_view(
        **{
            name: extend_schema(
                tags=[tag], **({"summary": spec} if isinstance(spec, str) else spec)
            )
            for name, spec in specs.items()
        }
    )
