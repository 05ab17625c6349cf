"""The scenario room: a YAML file in, a frozen `Scenario` and its load plan out.

    model.py        the frozen dataclasses (standard library only)
    loader.py       load_scenario: read, validate, default, type (one sentence per error)
    yaml_source.py  YAML 1.2 with line numbers; schema_check.py: JSON Schema, worded
    plan.py         the load over time, arrivals, talk times, what the generator must hold
"""
