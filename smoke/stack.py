"""The production stack as the image and the compose file define it, run on this machine.

Nothing here restates how CIR is started: the build steps are read from the Dockerfile and
the `web`, `worker` and `beat` commands and environments from docker-compose.yml, so the
smoke test and the shipped files cannot drift apart. Only what a deployment chooses (the
database, the broker, the listening address, secrets, intervals) is set here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml

from .common import REPO, SmokeFailure, say

COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
SERVICES = ("web", "worker", "beat")

#: variables of the developer's shell a production container would not have
_NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
#: what a container's environment has besides what the image and compose set
_BASE_VARIABLES = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME")
#: image-only settings that change nothing the test looks at (a pip cache only saves time)
_IMAGE_ONLY = ("PIP_NO_CACHE_DIR",)


def spare_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_path() -> str:
    """PATH without the development virtualenv: the production one must be enough."""
    dev_bins = {str(Path(sys.prefix) / "bin"), str(REPO / ".venv" / "bin")}
    return os.pathsep.join(
        entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry not in dev_bins
    )


# --- the shipped files ------------------------------------------------------------------


@dataclass
class ComposeService:
    """One service of docker-compose.yml: its command and its `environment:`."""

    name: str
    argv: list[str]
    environment: dict[str, str]
    #: seconds compose waits after SIGTERM before it kills (`stop_grace_period`, default 10)
    stop_grace: float = 10.0


def _command_argv(name: str, command) -> list[str]:
    """The argv compose runs for `command`: a list as it is; a string split the way a shell
    splits words (compose does the same), so `sh -c "a && b"` stays `sh`, `-c`, `a && b`."""
    if isinstance(command, list):
        return [str(part) for part in command]
    if isinstance(command, str):
        return shlex.split(command)
    raise SmokeFailure(
        f"docker-compose.yml: service {name!r} has no `command`; the smoke test runs what "
        "the compose file says, so each of web, worker and beat must name its command"
    )


def _environment(value) -> dict[str, str]:
    """`environment:` as a mapping or as a list of NAME=value; a name without a value takes
    it from the caller's environment, as compose does."""
    if not value:
        return {}
    if isinstance(value, list):
        pairs = [item.split("=", 1) if "=" in item else [item, None] for item in value]
    else:
        pairs = list(value.items())
    result = {}
    for key, val in pairs:
        if val is None:
            if key in os.environ:
                result[key] = os.environ[key]
        else:
            result[str(key)] = "true" if val is True else "false" if val is False else str(val)
    return result


def _seconds(duration) -> float:
    """A compose duration ("90s", "1m30s", 10) in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    total, number = 0.0, ""
    for char in str(duration).strip():
        if char.isdigit() or char == ".":
            number += char
        else:
            total += float(number or 0) * {"h": 3600, "m": 60, "s": 1}.get(char, 1)
            number = ""
    return total + float(number or 0)


def read_compose(path: Path = COMPOSE_FILE) -> dict[str, ComposeService]:
    """The web, worker and beat services of the compose file (YAML anchors and `<<` merges
    resolved by the YAML loader, exactly as compose resolves them)."""
    services = yaml.safe_load(path.read_text())["services"]
    missing = [name for name in SERVICES if name not in services]
    if missing:
        raise SmokeFailure(f"docker-compose.yml has no service {', '.join(missing)}")
    result = {
        name: ComposeService(
            name=name,
            argv=_command_argv(name, services[name].get("command")),
            environment=_environment(services[name].get("environment")),
            stop_grace=_seconds(services[name].get("stop_grace_period", "10s")),
        )
        for name in SERVICES
    }
    web_command = " ".join(result["web"].argv)
    if "--bind" in web_command or " -b " in f" {web_command} ":
        raise SmokeFailure(
            "docker-compose.yml: the web command binds gunicorn itself "
            f"({web_command!r}); it must leave the bind to gunicorn.conf.py (GUNICORN_BIND), "
            "so that the address is configuration and the same command runs everywhere"
        )
    if not (REPO / "gunicorn.conf.py").exists():
        raise SmokeFailure(
            "gunicorn.conf.py is missing at the repository root: nothing would read "
            "GUNICORN_BIND and WEB_CONCURRENCY, so `gunicorn cir.wsgi` would listen on its "
            "default address"
        )
    return result


@dataclass
class Dockerfile:
    """What the image does at build time that matters here: its ENV and its RUN steps."""

    env: dict[str, str] = field(default_factory=dict)
    runs: list[list[str]] = field(default_factory=list)

    def steps(self, needle: str) -> list[list[str]]:
        return [argv for argv in self.runs if needle in " ".join(argv)]


def read_dockerfile(path: Path = DOCKERFILE) -> Dockerfile:
    """The ENV settings and RUN commands of the Dockerfile (continuation lines joined)."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    result = Dockerfile()
    for line in lines:
        instruction, _, rest = line.partition(" ")
        instruction, rest = instruction.upper(), rest.strip()
        if instruction == "ENV":
            words = shlex.split(rest)
            if all("=" in word for word in words):
                result.env.update(word.split("=", 1) for word in words)
            elif words:
                result.env[words[0]] = " ".join(words[1:])
        elif instruction == "RUN":
            argv = json.loads(rest) if rest.startswith("[") else ["sh", "-c", rest]
            result.runs.append([str(part) for part in argv])
    return result


# --- the database and the broker ------------------------------------------------------


def _database_parts(url: str) -> tuple[dict, str]:
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if parts.scheme not in ("postgres", "postgresql", "pgsql") or "smoke" not in name:
        raise SmokeFailure(
            f"the smoke database must be a PostgreSQL database whose name says smoke "
            f"(it is dropped and created again), not {url!r}"
        )
    connect = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 5432,
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password or ""),
        "dbname": "postgres",
    }
    return connect, name


def _maintenance(url: str, statements: list[str]) -> None:
    import psycopg2
    from psycopg2 import sql

    connect, name = _database_parts(url)
    connection = psycopg2.connect(connect_timeout=5, **connect)
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(sql.SQL(statement).format(sql.Identifier(name)))
    finally:
        connection.close()


def database_create(url: str) -> None:
    """Drop the smoke database if a previous run left it, and create it empty."""
    _maintenance(url, ["DROP DATABASE IF EXISTS {} WITH (FORCE)", "CREATE DATABASE {}"])


def database_drop(url: str) -> None:
    _maintenance(url, ["DROP DATABASE IF EXISTS {} WITH (FORCE)"])


def broker_clear(url: str) -> int:
    """Delete the keys of the smoke test's own Redis database (SCAN + DEL: other databases
    of the same server, which other runs use, are left alone). Returns how many."""
    import redis

    parts = urlsplit(url)
    db = parts.path.lstrip("/")
    if parts.scheme not in ("redis", "rediss") or not db.isdigit() or db == "0":
        raise SmokeFailure(
            f"the smoke broker must be a Redis URL naming a database of its own (not 0), "
            f"since its keys are deleted: {url!r}"
        )
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        deleted = 0
        batch = []
        for key in client.scan_iter(count=500):
            batch.append(key)
            if len(batch) >= 500:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
        return deleted
    finally:
        client.close()


# --- processes --------------------------------------------------------------------------


#: the start of a plain-text log record: "2026-12-01 09:10:16,128 …", "[2026-12-01 …"
PLAIN_LOG_RECORD = re.compile(r"^\[?\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d")


class Process:
    """One long-running process of the stack in its own process group, its output in a file.

    Stopping signals the whole group, so nothing it started (gunicorn's workers, the worker
    pool) outlives it.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path):
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            log.write(f"--- {self.name}: {shlex.join(self.argv)}\n".encode())
            self.popen = subprocess.Popen(  # noqa: S603 - the compose file's own command
                self.argv,
                cwd=REPO,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def _group_alive(self) -> bool:
        if self.popen is None:
            return False
        try:
            os.killpg(self.popen.pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _signal_group(self, signum: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signum)

    def _wait_group(self, timeout: float) -> bool:
        """Wait until the main process has exited and its group is empty."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen is not None:
                self.popen.poll()
            if not self.running and not self._group_alive():
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to the group; SIGKILL to whatever is left after `timeout` seconds."""
        self._signal_group(signal.SIGTERM)
        self.finish(timeout)

    def finish(self, timeout: float) -> None:
        """Wait for a signalled group to end; SIGKILL whatever is left after `timeout` s."""
        if self.popen is None:
            return
        if not self._wait_group(timeout):
            say(f"{self.name} did not stop within {timeout:g} s of SIGTERM: SIGKILL")
            self._signal_group(signal.SIGKILL)
            self._wait_group(5)

    def stopped_cleanly(self, timeout: float) -> str:
        """After SIGTERM to the main process: wait for the whole group to end. Returns what
        went wrong ("" if nothing): the main process did not exit in time, or it exited and
        left processes it started running (a shell that does not pass the signal on)."""
        deadline = time.monotonic() + timeout
        main_exited_at = None
        while time.monotonic() < deadline:
            if self.popen is None:
                return ""
            if self.popen.poll() is not None:
                if not self._group_alive():
                    return ""
                main_exited_at = main_exited_at or time.monotonic()
                if time.monotonic() - main_exited_at > 3:
                    return (
                        "its main process exited on SIGTERM but left processes it started "
                        "running (a shell that does not pass the signal on: `exec` the server)"
                    )
            time.sleep(0.1)
        return f"still running {timeout:g} s after SIGTERM to its main process"

    def warm_stop(self, timeout: float = 30) -> float:
        """Stop the way an orchestrator stops a container: SIGTERM to the main process only,
        which lets a Celery worker finish its tasks and hand back those it had not started
        (a warm shutdown; its pool processes must not be signalled, or the tasks they run
        are lost mid-way). Returns the seconds it took; fails if it did not stop in time."""
        assert self.popen is not None
        started = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGTERM)
        if not self._wait_group(timeout):
            self._signal_group(signal.SIGKILL)
            self._wait_group(5)
            raise SmokeFailure(
                f"the {self.name} did not finish a warm shutdown within {timeout:g} s of SIGTERM"
            )
        return time.monotonic() - started

    def tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])

    def plain_log_records(self) -> list[str]:
        """Lines that are log records (they start with a timestamp, as Django's, Celery's
        and gunicorn's plain formats do) but not JSON: LOG_FORMAT=json not applied."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [line for line in lines if PLAIN_LOG_RECORD.match(line)]

    def json_share(self) -> tuple[int, int]:
        """(lines that are JSON objects, all lines) of the output: LOG_FORMAT=json at work."""
        total = as_json = 0
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return 0, 0
        for line in text.splitlines():
            if not line.strip() or line.startswith("--- "):
                continue
            total += 1
            with contextlib.suppress(ValueError):
                as_json += isinstance(json.loads(line), dict)
        return as_json, total


def run_checked(argv: list[str], env: dict[str, str], what: str, timeout: float) -> str:
    """Run a command to completion in the repository; its output, or a failure with it."""
    try:
        done = subprocess.run(  # noqa: S603 - the Dockerfile's and manage.py's own commands
            argv,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:
        raise SmokeFailure(f"{what} took longer than {timeout:g} s") from exc
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-60:])
        raise SmokeFailure(f"{what} failed (exit {done.returncode}):\n{output}")
    return done.stdout


class Stack:
    """A fresh production virtualenv, and web, worker and beat run from it."""

    def __init__(self, workdir: Path, settings: dict[str, str]):
        self.workdir = workdir
        self.venv = workdir / "venv"
        self.settings = settings
        self.compose = read_compose()
        self.dockerfile = read_dockerfile()
        self.processes: dict[str, Process] = {}

    # the environments ------------------------------------------------------------------

    def _path(self) -> str:
        return f"{self.venv / 'bin'}{os.pathsep}{_clean_path()}"

    def build_env(self) -> dict[str, str]:
        """The image build's environment: this machine's (its package index settings), the
        Dockerfile's ENV, and the fresh virtualenv first on PATH."""
        env = {k: v for k, v in os.environ.items() if k not in _NOT_INHERITED}
        env.update({k: v for k, v in self.dockerfile.env.items() if k not in _IMAGE_ONLY})
        env["PATH"] = self._path()
        env["VIRTUAL_ENV"] = str(self.venv)
        return env

    def service_env(self, name: str) -> dict[str, str]:
        """A container's environment: the image's ENV, the service's `environment:` from the
        compose file, then this deployment's settings; the production virtualenv on PATH."""
        env = {k: os.environ[k] for k in _BASE_VARIABLES if k in os.environ}
        env.update(self.dockerfile.env)
        env.update(self.compose[name].environment)
        env.update(self.settings)
        env["PATH"] = self._path()
        env["VIRTUAL_ENV"] = str(self.venv)
        # temporary files (gunicorn's metrics folder among them) go where cleanup finds them
        env["TMPDIR"] = str(self.workdir)
        return env

    # building ----------------------------------------------------------------------------

    def build(self) -> float:
        """Create the virtualenv and run the Dockerfile's install step in it. Returns the
        seconds it took."""
        installs = self.dockerfile.steps("pip install")
        if not installs:
            raise SmokeFailure("the Dockerfile has no `RUN pip install` step")
        for argv in installs:
            command = " ".join(argv)
            if "requirements.txt" not in command or "requirements-dev" in command:
                raise SmokeFailure(
                    f"the Dockerfile's install step must install the production lock "
                    f"requirements.txt only: {command!r}"
                )
        started = time.monotonic()
        run_checked(
            [sys.executable, "-m", "venv", str(self.venv)],
            self.build_env(),
            "creating the virtualenv",
            timeout=120,
        )
        for argv in installs:
            say(f"image step: {argv[-1] if argv[:2] == ['sh', '-c'] else shlex.join(argv)}")
            run_checked(argv, self.build_env(), "installing requirements.txt", timeout=600)
        return time.monotonic() - started

    def collectstatic(self) -> float:
        """The Dockerfile's static files step, in the fresh virtualenv."""
        steps = self.dockerfile.steps("collectstatic")
        if not steps:
            raise SmokeFailure("the Dockerfile no longer runs `manage.py collectstatic`")
        started = time.monotonic()
        for argv in steps:
            say(f"image step: {argv[-1] if argv[:2] == ['sh', '-c'] else shlex.join(argv)}")
            run_checked(argv, self.build_env(), "collectstatic", timeout=300)
        return time.monotonic() - started

    # running -------------------------------------------------------------------------------

    def start(self, name: str) -> Process:
        process = self.processes.get(name)
        if process is None:
            process = Process(
                name,
                self.compose[name].argv,
                self.service_env(name),
                self.workdir / f"{name}.log",
            )
            self.processes[name] = process
        process.start()
        say(f"started {name} (pid {process.popen.pid}): {shlex.join(process.argv)}")
        return process

    def manage(self, args: list[str], extra_env: dict[str, str], what: str) -> str:
        """`python manage.py …` in the fresh virtualenv with the web service's environment
        (a one-off `docker compose run web python manage.py …`)."""
        env = {**self.service_env("web"), **extra_env}
        return run_checked(["python", "manage.py", *args], env, what, timeout=120)

    def require_running(self) -> None:
        """Fail if a process of the stack has exited on its own."""
        for name, process in self.processes.items():
            if process.popen is not None and not process.running:
                raise SmokeFailure(f"the {name} process exited (code {process.popen.returncode})")

    def stop_all(self) -> list[str]:
        """Stop every process the way an orchestrator stops containers: SIGTERM to each main
        process (beat first, then the worker, then web), time to finish, then SIGKILL to
        whatever is left of its group. Returns a note for each that did not stop cleanly."""
        notes = []
        order = [self.processes[n] for n in ("beat", "worker", "web") if n in self.processes]
        for process in order:
            if process.running:
                with contextlib.suppress(ProcessLookupError):
                    process.popen.send_signal(signal.SIGTERM)
        for process in order:
            problem = process.stopped_cleanly(timeout=self.compose[process.name].stop_grace)
            if problem:
                notes.append(f"{process.name}: {problem}")
                process.stop(timeout=5)
        return notes

    def print_tails(self, lines: int = 60) -> None:
        for name, process in self.processes.items():
            print(f"\n--- last {lines} lines of {name} ({process.log_path.name}) ---")
            print(process.tail(lines))
        sys.stdout.flush()
