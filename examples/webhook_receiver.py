"""Receive CIR webhooks and verify their Standard Webhooks signature (standard library only).

Run: CIR_WEBHOOK_SECRET=whsec_... python3 examples/webhook_receiver.py 9000
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

KEY = base64.b64decode(os.environ["CIR_WEBHOOK_SECRET"].removeprefix("whsec_"))


def verified(headers, body: bytes) -> bool:
    msg_id, ts = headers["webhook-id"], headers["webhook-timestamp"]
    mac = hmac.new(KEY, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    expected = "v1," + base64.b64encode(mac).decode()
    fresh = abs(time.time() - int(ts)) < 300  # refuse replays older than 5 minutes
    offered = headers["webhook-signature"].split()  # "v1,<base64>", space-separated
    return fresh and any(hmac.compare_digest(expected, s) for s in offered)


class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        ok = verified(self.headers, body)
        event = json.loads(body) if ok else {}
        print("verified" if ok else "REJECTED", event.get("type"), json.dumps(event.get("data")))
        self.send_response(204 if ok else 401)
        self.end_headers()


port = int(sys.argv[1]) if len(sys.argv) > 1 else 9000
HTTPServer(("127.0.0.1", port), Receiver).serve_forever()
