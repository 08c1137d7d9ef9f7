"""`python -m smoke`: set up, run the scenario, and always clean up (see smoke/__init__.py)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

from .common import REPO, Figures, SmokeFailure, elapsed, say, step
from .scenario import Scenario
from .stack import Stack, broker_clear, database_create, database_drop, spare_port

DATABASE_URL = "postgres://postgres@127.0.0.1:5432/cir_smoke"
BROKER_URL = "redis://127.0.0.1:6379/13"
#: one smoke run at a time on a machine: they share the database and the Redis database
LOCK_FILE = Path(tempfile.gettempdir()) / "cir-smoke.lock"
LOCK_WAIT_SECONDS = 420


@contextlib.contextmanager
def one_at_a_time():
    with LOCK_FILE.open("w") as handle:
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        announced = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if time.monotonic() > deadline:
                    raise SmokeFailure(
                        f"another smoke test held {LOCK_FILE} for {LOCK_WAIT_SECONDS} s"
                    ) from exc
                if not announced:
                    say(f"another smoke test is running; waiting for it ({LOCK_FILE})")
                    announced = True
                time.sleep(1)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _stop_on_sigterm(signum, frame):
    """A CI timeout sends SIGTERM: unwind, so that `finally` stops the stack and cleans up."""
    raise SystemExit(128 + signum)


def settings(port: int, database_url: str, broker_url: str, metrics_token: str) -> dict:
    """This deployment's choices, laid over the compose file's `environment:`."""
    return {
        "DJANGO_SETTINGS_MODULE": "cir.settings.production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "WEB_CONCURRENCY": "2",
        "CIR_WEBHOOK_ALLOW_PRIVATE": "true",
        "CIR_WEBHOOK_BACKOFF_SECONDS": "1",
        "CIR_SWEEP_SECONDS": "5",
        "CIR_DISPATCH_SECONDS": "5",
        "CIR_CHECK_DELAY_SECONDS": "0.2",
        "METRICS_TOKEN": metrics_token,
        "LOG_FORMAT": "json",
    }


def run(figures: Figures) -> None:
    database_url = os.environ.get("SMOKE_DATABASE_URL", DATABASE_URL)
    broker_url = os.environ.get("SMOKE_BROKER_URL", BROKER_URL)
    staticfiles = REPO / "staticfiles"
    staticfiles_existed = staticfiles.exists()
    workdir = Path(tempfile.mkdtemp(prefix="cir-smoke-"))
    stack = scenario = None
    database_made = ok = False
    try:
        step("the shipped files")
        port = spare_port()
        metrics_token = secrets.token_urlsafe(32)
        stack = Stack(workdir, settings(port, database_url, broker_url, metrics_token))
        for name, service in stack.compose.items():
            say(f"compose {name}: {' '.join(service.argv)}")

        step("database and broker")
        database_create(database_url)
        database_made = True
        say(f"database {database_url.rsplit('/', 1)[-1]} created empty")
        say(f"broker {broker_url}: {broker_clear(broker_url)} stale keys deleted")

        step("a fresh virtualenv from the production lock")
        seconds = stack.build()
        say(f"virtualenv built and requirements.txt installed in {seconds:.1f} s")
        figures.add("virtualenv + requirements.txt", f"{seconds:.1f} s")
        seconds = stack.collectstatic()
        figures.add("collectstatic", f"{seconds:.1f} s")

        scenario = Scenario(stack, port, metrics_token, figures)
        scenario.run()
        stack.require_running()

        step("stopping the stack as an orchestrator does (SIGTERM)")
        problems = stack.stop_all()
        if problems:
            raise SmokeFailure("did not stop cleanly on SIGTERM: " + "; ".join(problems))
        say("web, worker and beat stopped on SIGTERM")
        for name, process in stack.processes.items():
            as_json, total = process.json_share()
            figures.add(f"log lines of {name} as JSON", f"{as_json} of {total}")
            plain = process.plain_log_records()
            if plain:
                raise SmokeFailure(
                    f"LOG_FORMAT=json, but {name} wrote {len(plain)} log record(s) as plain "
                    f"text, e.g. {plain[0]!r}"
                )
        say("every log record of web, worker and beat is a JSON line")
        ok = True
    except SmokeFailure as exc:
        # said first; the processes' output follows
        print(f"\nSMOKE FAILURE: {exc}", flush=True)
        exc.reported = True
        raise
    except Exception as exc:
        print("\nSMOKE ERROR (a fault of the smoke test itself, or an unexpected answer):")
        traceback.print_exc()
        exc.reported = True
        raise
    finally:
        # cleanup must run to the end: a second SIGTERM (or Ctrl-C) waits for it
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cleanup = []
        if scenario is not None:
            cleanup.append(("the webhook receiver", scenario.close))
        if stack is not None:
            cleanup.append(("the stack", lambda: stop(stack, figures, show_output=not ok)))
        cleanup.append(("the broker's keys", lambda: broker_clear(broker_url)))
        if database_made:
            cleanup.append(("the database", lambda: database_drop(database_url)))
        if keep := os.environ.get("SMOKE_LOG_DIR"):
            cleanup.append(("the logs", lambda: keep_logs(stack, Path(keep))))
        cleanup.append(("the work folder", lambda: shutil.rmtree(workdir, ignore_errors=True)))
        if not staticfiles_existed:
            # collectstatic wrote it into the working tree; leave the tree as it was
            cleanup.append(("staticfiles/", lambda: shutil.rmtree(staticfiles, ignore_errors=True)))
        for what, action in cleanup:
            try:
                action()
            except Exception as exc:
                say(f"cleanup: could not clean up {what}: {exc}")


def stop(stack: Stack, figures: Figures, *, show_output: bool) -> None:
    """Stop whatever still runs (after a failure, or a SIGTERM of the smoke test itself)."""
    for note in stack.stop_all():
        say(f"NOTE: stopping {note}")
    if show_output:
        stack.print_tails()


def keep_logs(stack: Stack | None, folder: Path) -> None:
    if stack is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    for process in stack.processes.values():
        shutil.copy(process.log_path, folder / process.log_path.name)


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    figures = Figures()
    outcome = "FAILED"
    try:
        with one_at_a_time():
            run(figures)
        outcome = "PASSED"
    except SmokeFailure as exc:
        if not getattr(exc, "reported", False):
            print(f"\nSMOKE FAILURE: {exc}", flush=True)
    except (KeyboardInterrupt, SystemExit):
        print("\nSMOKE INTERRUPTED", flush=True)
    except Exception as exc:
        if not getattr(exc, "reported", False):
            traceback.print_exc()
    figures.add("total", f"{elapsed():.1f} s")
    figures.print()
    print(f"\nSMOKE {outcome}", flush=True)
    return 0 if outcome == "PASSED" else 1


if __name__ == "__main__":
    sys.exit(main())
