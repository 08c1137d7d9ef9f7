"""An HTTP client that calls CIR the way it is reached in production: through a
TLS-terminating proxy, which forwards plain HTTP with `X-Forwarded-Proto: https`.

The production settings redirect plain HTTP to HTTPS and trust that header, so every call
carries it (and the redirect stays on: a call without it is answered with a redirect).
Redirects are never followed: a 301 where JSON was expected is a failure to see.
"""

from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass

from .common import SmokeFailure


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes
    seconds: float

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise SmokeFailure(f"expected JSON, got: {self.excerpt()}") from exc

    def header(self, name: str) -> str:
        return self.headers.get(name, "")

    def excerpt(self, limit: int = 500) -> str:
        text = self.body.decode("utf-8", errors="replace")
        return text if len(text) <= limit else text[:limit] + "…"


class Client:
    """Calls to one CIR web server on 127.0.0.1, as one API user (or none)."""

    def __init__(self, port: int, *, authorization: str | None = None, timeout: float = 15):
        self.port = port
        self.authorization = authorization
        self.timeout = timeout

    def as_token(self, token: str) -> Client:
        return Client(self.port, authorization=f"Token {token}", timeout=self.timeout)

    def request(
        self,
        method: str,
        path: str,
        data=None,
        *,
        headers: dict[str, str] | None = None,
        forwarded_https: bool = True,
    ) -> Reply:
        all_headers = {"Accept": "application/json"}
        if forwarded_https:
            all_headers["X-Forwarded-Proto"] = "https"
        if self.authorization:
            all_headers["Authorization"] = self.authorization
        body = None
        if data is not None:
            body = json.dumps(data).encode()
            all_headers["Content-Type"] = "application/json"
        all_headers.update(headers or {})
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        started = time.monotonic()
        try:
            connection.request(method, path, body=body, headers=all_headers)
            response = connection.getresponse()
            payload = response.read()
        finally:
            connection.close()
        return Reply(response.status, response.headers, payload, time.monotonic() - started)

    def call(self, method: str, path: str, data=None, *, expect=(200,)):
        """A JSON API call that must answer one of `expect`; its JSON body."""
        try:
            reply = self.request(method, path, data)
        except OSError as exc:
            raise SmokeFailure(f"{method} {path}: no answer ({exc})") from exc
        if reply.status not in expect:
            raise SmokeFailure(
                f"{method} {path} answered {reply.status} (expected "
                f"{' or '.join(map(str, expect))}): {reply.excerpt()}"
            )
        return reply.json() if reply.body else None

    def get(self, path: str):
        return self.call("GET", path)

    def post(self, path: str, data=None, *, expect=(200, 201)):
        return self.call("POST", path, data, expect=expect)
