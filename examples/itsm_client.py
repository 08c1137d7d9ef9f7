#!/usr/bin/env python3
"""A small ITSM-side client of the CIR REST API (standard library only).

It does what a ServiceNow, Jira Service Management or monitoring integration does:

    # raise an improvement candidate from a problem record (safe to repeat)
    itsm_client.py --url http://127.0.0.1:8000 --user integration --password ... \\
        raise --system servicenow --id PRB0041337 --title "Recurring VPN drop-outs"

    # push measurements of a KPI: a JSON list of {value, measured_at[, source, note]}
    # (or of rows that already name their "kpi"); "-" reads standard input
    itsm_client.py ... push vpn-drops-per-hour day.json

    # read a KPI's verdict
    itsm_client.py ... verdict vpn-drops-per-hour

Both writes are idempotent in CIR (the same problem record never registers twice; a point
re-sent replaces itself), so the client simply retries on network errors and 5xx.
`CIR_URL`, `CIR_USER`, `CIR_PASSWORD` or `CIR_TOKEN` may come from the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request

#: most rows per request (the API's limit)
BATCH = 10_000


class CIRError(Exception):
    """An error answer of the API, in its one shape {"code", "message", "errors"}."""

    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body
        super().__init__(f"HTTP {status} {body.get('code')}: {body.get('message')}")


class CIRClient:
    def __init__(self, url: str, *, token: str | None = None, retries: int = 4):
        if not url.startswith(("http://", "https://")):
            raise ValueError("The CIR URL must start with http:// or https://.")
        self.url = url.rstrip("/")
        self.token = token
        self.retries = retries

    def login(self, username: str, password: str) -> str:
        """Exchange a username and password for the user's API token."""
        body = {"username": username, "password": password}
        self.token = self.request("POST", "/api/v1/auth/token/", body)[1]["token"]
        return self.token

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        """(status, JSON) of one call; retried with back-off on network errors and 5xx."""
        url = path if path.startswith("http") else f"{self.url}{path}"
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Token {self.token}"
        for attempt in range(self.retries + 1):
            # the scheme was checked in __init__ (http or https only)
            request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
            try:
                with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                    raw = response.read()
                    return response.status, json.loads(raw) if raw else {}
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                try:
                    payload = json.loads(raw)
                except ValueError:
                    payload = {"code": "error", "message": raw[:200].decode(errors="replace")}
                if exc.code < 500 or attempt == self.retries:
                    raise CIRError(exc.code, payload) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == self.retries:
                    raise
            time.sleep(min(2**attempt, 30))
        raise AssertionError("unreachable")

    # --- what an integration does --------------------------------------------------

    def raise_candidate(self, *, system: str, external_id: str, title: str, **fields) -> dict:
        """Register an improvement candidate for an ITSM record, or find the one there is."""
        body = {"title": title, "external_system": system, "external_id": external_id, **fields}
        status, initiative = self.request("POST", "/api/v1/initiatives/", body)
        initiative["_created"] = status == 201
        return initiative

    def push(self, kpi: str, points: list[dict]) -> int:
        """Record measurements of KPI `kpi`, in requests of at most 10 000 rows."""
        rows = [{"kpi": kpi, **p} if "kpi" not in p else p for p in points]
        recorded = 0
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            recorded += self.request("POST", "/api/v1/measurements/", chunk)[1]["recorded"]
        return recorded

    def kpi(self, key: str) -> dict:
        """The KPI with this key, with its latest check."""
        results = self.request("GET", f"/api/v1/kpis/?key={key}")[1]["results"]
        if not results:
            raise CIRError(404, {"code": "not_found", "message": f"No KPI '{key}'."})
        return results[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default=os.environ.get("CIR_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--user", default=os.environ.get("CIR_USER"))
    parser.add_argument("--password", default=os.environ.get("CIR_PASSWORD"))
    parser.add_argument("--token", default=os.environ.get("CIR_TOKEN"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("token", help="print the API token")
    raise_ = commands.add_parser("raise", help="raise a candidate from an ITSM record")
    raise_.add_argument("--system", required=True, help="e.g. servicenow")
    raise_.add_argument("--id", required=True, help="e.g. PRB0041337")
    raise_.add_argument("--title", required=True)
    raise_.add_argument("--source", default="problem")
    raise_.add_argument("--record-url", default="")
    raise_.add_argument("--description", default="")
    push = commands.add_parser("push", help="push measurements of a KPI")
    push.add_argument("kpi", help="the KPI's key")
    push.add_argument("file", help="a JSON list of points; - for standard input")
    verdict = commands.add_parser("verdict", help="read a KPI's latest verdict")
    verdict.add_argument("kpi", help="the KPI's key")
    args = parser.parse_args(argv)

    client = CIRClient(args.url, token=args.token)
    try:
        if not client.token:
            if not (args.user and args.password):
                parser.error("give --token, or --user and --password")
            client.login(args.user, args.password)
        if args.command == "token":
            print(client.token)
        elif args.command == "raise":
            initiative = client.raise_candidate(
                system=args.system,
                external_id=args.id,
                title=args.title,
                source=args.source,
                external_url=args.record_url,
                description=args.description,
            )
            verb = "raised" if initiative["_created"] else "already registered as"
            reference, step = initiative["reference"], initiative["step"]
            print(f"{args.system}/{args.id} {verb} {reference} ({step})")
            print(initiative["url"])
        elif args.command == "push":
            source = sys.stdin if args.file == "-" else open(args.file, encoding="utf-8")  # noqa: SIM115
            with source:
                points = json.load(source)
            print(f"recorded {client.push(args.kpi, points)} measurement(s) of {args.kpi}")
        elif args.command == "verdict":
            kpi = client.kpi(args.kpi)
            check = kpi["latest_check"] or {}
            print(f"{kpi['key']}: {kpi['status']}")
            for name in ("current", "progress", "expected", "measurement_count", "checked_at"):
                print(f"  {name:18} {check.get(name)}")
            baseline, target = kpi["baseline_value"], kpi["target_value"]
            print(f"  baseline → target  {baseline} → {target} {kpi['unit']}")
    except CIRError as exc:
        print(exc, file=sys.stderr)
        if exc.body.get("errors"):
            print(json.dumps(exc.body["errors"], indent=2), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
