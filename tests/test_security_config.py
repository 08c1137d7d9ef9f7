"""Production refuses a placeholder secret key, the demo refuses to seed known-password
logins in production, and the CSV export leaves no formula live, in any separator locale."""

from __future__ import annotations

import csv
import io
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from improvement import services

ROOT = Path(__file__).resolve().parent.parent


def start_production(secret_key: str) -> subprocess.CompletedProcess:
    """`manage.py check` under production settings: what gunicorn's start does first."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "cir.settings.production",
        "SECRET_KEY": secret_key,
        "ALLOWED_HOSTS": "cir.example.org",
        "DATABASE_URL": "sqlite:////tmp/cir-never-opened.sqlite3",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def example_secret_key() -> str:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith("SECRET_KEY="):
            return line.split("=", 1)[1]
    raise AssertionError(".env.example has no SECRET_KEY")


@pytest.mark.parametrize(
    "key",
    [example_secret_key(), "", "   ", "short-key", "x" * 60],
    ids=["the .env.example placeholder", "empty", "blank", "short", "one character repeated"],
)
def test_production_refuses_to_start_with_a_placeholder_or_weak_secret_key(key):
    result = start_production(key)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


def test_production_starts_with_a_random_secret_key():
    result = start_production(secrets.token_urlsafe(50))
    assert result.returncode == 0, result.stderr


def test_seed_demo_refuses_under_production_settings(db, settings):
    settings.CIR_PRODUCTION = True
    with pytest.raises(CommandError, match="production"):
        call_command("seed_demo")
    assert not get_user_model().objects.filter(username="csi").exists()


# --- CSV export -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "title",
    ["x;=1+1", "x,=1+1", "x; =HYPERLINK(1)", "ok;+1", "a;-1", "a;@SUM(A1)", "=1+1", "\t=1"],
)
def test_the_csv_export_leaves_no_formula_live_in_any_separator_locale(client, csi, title):
    services.initiative_create(actor=csi, title=f"{title}")
    client.force_login(csi)

    response = client.get("/export.csv")
    text = b"".join(response.streaming_content).decode()

    for delimiter in (",", ";"):
        for row in csv.reader(io.StringIO(text), delimiter=delimiter):
            for cell in row:
                assert cell.lstrip(" ")[:1] not in ("=", "+", "-", "@"), (delimiter, cell)
