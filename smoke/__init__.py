"""The production smoke test: the shipped stack, end to end, met as an ITSM tool meets it.

`python -m smoke` (or `make smoke`) builds a fresh virtualenv from the production lock
only, runs the Dockerfile's build steps in it, starts the `web`, `worker` and `beat`
commands of docker-compose.yml against a fresh PostgreSQL database and its own Redis
database, and then talks to it over HTTP only: probes, tokens, static files, a signed
webhook that fails once and is retried, KPI verdicts computed by the worker, a status
that changes with the clock alone (beat's sweep), a worker stopped and started again in
the middle of a stream of measurements, and the Prometheus figures.

Why a separate, slow test: the test suite runs in the development environment, where a
package missing from requirements.txt, a compose command that no longer starts, a static
file that is not collected or a setting that only production reads all go unnoticed.
This test fails on each of them. It exits 0 on success, 1 on failure (with the tail of
every process's output), and cleans up after itself either way.

Environment: SMOKE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/cir_smoke;
the database is dropped and created again) and SMOKE_BROKER_URL (default
redis://127.0.0.1:6379/13; only that Redis database's keys are deleted); SMOKE_LOG_DIR,
a folder to keep the output of web, worker and beat in (for a CI run's artifacts).
"""
