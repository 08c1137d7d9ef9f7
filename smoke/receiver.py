"""A webhook receiver as an ITSM tool runs one: it verifies every delivery with the
Standard Webhooks reference library, and it is briefly down — it answers 500 to the first
request it gets — so that CIR has to retry.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request the receiver got, and what it answered."""

    number: int
    at: float  # time.monotonic() on arrival
    msg_id: str
    headers: dict[str, str]
    body: bytes
    answered: int
    event: dict | None  # the verified JSON body; None when verification failed
    error: str

    @property
    def type(self) -> str:
        return (self.event or {}).get("type", "")

    @property
    def data(self) -> dict:
        return (self.event or {}).get("data") or {}


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 (a spare port), in a thread of the smoke process."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self._lock = threading.Lock()
        self._received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = receiver._receive(dict(self.headers.items()), body)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format, *args):  # the smoke test prints its own lines
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/cir-events"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() waits for serve_forever(), so only if started
            self._server.shutdown()
        self._server.server_close()

    def _receive(self, headers: dict[str, str], body: bytes) -> int:
        arrived = time.monotonic()
        event, error = None, ""
        if self.secret is None:
            error = "no secret known yet"
        else:
            try:
                event = Webhook(self.secret).verify(body, headers)
            except (WebhookVerificationError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            number = len(self._received) + 1
            # down for the first request; afterwards 204 for a good signature, 401 otherwise
            status = 500 if number == 1 else 204 if event is not None else 401
            lowered = {k.lower(): v for k, v in headers.items()}
            self._received.append(
                Received(
                    number=number,
                    at=arrived,
                    msg_id=lowered.get("webhook-id", ""),
                    headers=lowered,
                    body=body,
                    answered=status,
                    event=event,
                    error=error,
                )
            )
        return status

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)
