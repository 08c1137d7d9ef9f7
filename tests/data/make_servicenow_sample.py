"""Writes servicenow_incident_audit.csv: a ServiceNow incident *audit* export as an instance
with a day-first display format produces it (dd-MM-yyyy HH:mm:ss), several rows per
incident (one per update: sys_updated_on / sys_mod_count), rows not in order, `?` where the
instance had no value. Deterministic: run it again and the file is the same.

    python tests/data/make_servicenow_sample.py
"""

import csv
import datetime as dt
import random
from pathlib import Path

HEADERS = ["number", "short_description", "incident_state", "opened_at", "resolved_at",
           "closed_at", "category", "subcategory", "cmdb_ci", "assignment_group", "priority",
           "reopen_count", "reassignment_count", "made_sla", "problem_id", "sys_updated_on",
           "sys_mod_count"]  # fmt: skip
#: category, subcategory, CI, group, typical hours to resolve, share of reopened
PATTERNS = [
    ("Network", "VPN", "vpn-gw-01", "Network Operations", 30.0, 0.3),
    ("Network", "Wi-Fi", "wlc-hq", "Network Operations", 8.0, 0.05),
    ("Software", "Email", "exchange-prod", "Messaging", 5.0, 0.1),
    ("Hardware", "Laptop", "?", "Service Desk", 12.0, 0.05),
    ("Database", "Oracle", "ora-fin-02", "DBA", 20.0, 0.2),
    ("Inquiry / Help", "Password", "?", "Service Desk", 1.5, 0.0),
]
WEIGHTS = [6, 3, 3, 2, 2, 4]
START = dt.datetime(2026, 7, 1, 8, 0)
DAYS = 150  # 1 July to 28 November 2026


def fmt(value):
    return value.strftime("%d-%m-%Y %H:%M:%S") if value else ""


def main() -> None:
    rnd = random.Random(16)
    rows = []
    for n in range(1, 181):
        category, sub, ci, group, hours, reopen_share = rnd.choices(PATTERNS, WEIGHTS)[0]
        # the VPN incidents grow over the period: more of them in the last 90 days
        day = rnd.triangular(0, DAYS, DAYS if sub == "VPN" else DAYS / 2)
        opened = START + dt.timedelta(days=day, minutes=rnd.randrange(0, 600))
        number = f"INC{10000 + n:07d}"
        resolved = closed = None
        open_still = rnd.random() < 0.08
        if not open_still:
            resolved = opened + dt.timedelta(hours=rnd.expovariate(1 / hours) + 0.25)
            closed = resolved + dt.timedelta(days=3)
        reopen = 1 if rnd.random() < reopen_share else 0
        reassign = rnd.choice([0, 0, 1, 1, 2, 3])
        made_sla = (
            "?"
            if open_still
            else ("false" if resolved - opened > dt.timedelta(hours=24) else "true")
        )
        problem = "PRB0040012" if sub == "VPN" and rnd.random() < 0.5 else ""
        priority = rnd.choice(
            ["1 - Critical", "2 - High", "3 - Moderate", "3 - Moderate", "4 - Low"]
        )
        versions = [("New", opened, None, None, 0, 0, "?")]
        mid = opened + dt.timedelta(minutes=20)
        versions.append(("In Progress", mid, None, None, 0, min(reassign, 1), "?"))
        if resolved:
            versions.append(("Resolved", resolved, resolved, None, reopen, reassign, made_sla))
            if closed < START + dt.timedelta(days=DAYS + 2):
                versions.append(("Closed", closed, resolved, closed, reopen, reassign, made_sla))
        for mod, (state, updated, res, clo, rc, ra, sla) in enumerate(versions):
            rows.append([
                number, f"{sub} issue reported by user", state, fmt(opened), fmt(res), fmt(clo),
                category, sub, ci, group, priority, rc, ra, sla,
                problem if mod else "", fmt(updated), mod,
            ])  # fmt: skip
    rnd.shuffle(rows)
    path = Path(__file__).with_name("servicenow_incident_audit.csv")
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADERS)
        writer.writerows(rows)


if __name__ == "__main__":
    main()
