"""Orchestration: scenario model, load plan, Locust glue, probes, faults, verdicts, CLI."""

__version__ = "0.1.0"
