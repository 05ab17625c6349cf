"""Scenario files shipped with callproof (installed as harness.scenario_files)."""
