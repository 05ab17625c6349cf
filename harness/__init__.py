"""Orchestration in three rooms (scenario, run, verdict) and the `callproof` command."""

from importlib.metadata import version

__version__ = version("callproof")  # one source: pyproject.toml
