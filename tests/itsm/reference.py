"""An independent computation of the sample export's records and figures: plain Python
(csv, datetime, statistics) over the file, sharing no code with the importer or the SQL."""

from __future__ import annotations

import csv
import datetime as dt
import statistics
from pathlib import Path

SAMPLE = Path(__file__).parent.parent / "data" / "servicenow_incident_audit.csv"


def _when(text: str) -> dt.datetime | None:
    if text in ("", "?"):
        return None
    return dt.datetime.strptime(text, "%d-%m-%Y %H:%M:%S").replace(tzinfo=dt.UTC)


def latest_records(path: Path = SAMPLE) -> dict[str, dict]:
    """number → the row that is the record: the greatest (sys_updated_on, sys_mod_count)."""
    best: dict[str, dict] = {}
    with path.open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            key = row["number"].lower()
            rank = (_when(row["sys_updated_on"]), int(row["sys_mod_count"]))
            if key not in best or rank >= best[key]["_rank"]:
                best[key] = {**row, "_rank": rank}
    return best


def figures_by(dimension_column: str, start: dt.date, end: dt.date, path: Path = SAMPLE):
    """Per group: records, median/p90 resolution hours, reopen, reassignment and SLA breach
    rates, hours lost, of the records opened in [start, end)."""
    lo = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    hi = dt.datetime.combine(end, dt.time(), tzinfo=dt.UTC)
    groups: dict[str, list[dict]] = {}
    for row in latest_records(path).values():
        opened = _when(row["opened_at"])
        if lo <= opened < hi:
            value = row[dimension_column]
            groups.setdefault("" if value == "?" else value, []).append(row)
    weeks = (end - start).days / 7
    out = {}
    for group, rows in groups.items():
        hours = []
        for r in rows:
            done = _when(r["resolved_at"]) or _when(r["closed_at"])
            if done is not None and done >= _when(r["opened_at"]):
                hours.append((done - _when(r["opened_at"])).total_seconds() / 3600)
        sla = [r["made_sla"] for r in rows if r["made_sla"] not in ("", "?")]
        reopen = sum(1 for r in rows if int(r["reopen_count"] or 0) > 0) / len(rows)
        reassign = sum(1 for r in rows if int(r["reassignment_count"] or 0) > 0) / len(rows)
        breach = sla.count("false") / len(sla) if sla else None
        lost = sum(hours)
        out[group] = {
            "records": len(rows),
            "records_per_week": len(rows) / weeks,
            "median_resolution_hours": statistics.median(hours) if hours else None,
            "p90_resolution_hours": (
                statistics.quantiles(hours, n=10, method="inclusive")[8]
                if len(hours) > 1
                else (hours[0] if hours else None)
            ),
            "reopen_rate": reopen,
            "reassignment_rate": reassign,
            "sla_breach_rate": breach,
            "hours_lost": lost,
            "score": lost / weeks * (1 + reopen + reassign + (breach or 0)),
        }
    return out
