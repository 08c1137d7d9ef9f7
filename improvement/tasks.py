"""Celery tasks: thin wrappers that load fresh rows by id and call services."""
