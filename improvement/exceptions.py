"""Domain errors. Each carries a stable `code`, a user-facing `message` and optional details.

The API maps them to HTTP (see api/errors.py): TransitionBlocked and Conflict → 409,
Forbidden → 403, InvalidInput → 400. HTML views show the message on the page.
"""


class CIRError(Exception):
    """Base of every domain error."""

    code = "error"
    status = 400

    def __init__(self, message: str, *, errors: dict | list | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class InvalidInput(CIRError):
    """Input that breaks a rule of the register; `errors` maps fields to messages."""

    code = "invalid"
    status = 400


class Forbidden(CIRError):
    """The actor's role or RACI position does not allow this."""

    code = "forbidden"
    status = 403


class TransitionBlocked(CIRError):
    """A move whose guard failed; `reasons` lists every unmet condition in words."""

    code = "transition_blocked"
    status = 409

    def __init__(self, message: str, *, reasons: list[str]):
        super().__init__(message, errors={"conditions": reasons})
        self.reasons = reasons


class Conflict(CIRError):
    """The initiative changed under the caller (a concurrent move); nothing was changed."""

    code = "conflict"
    status = 409
