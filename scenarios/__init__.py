"""Scenario files shipped with callproof (installed as callproof.scenarios)."""
