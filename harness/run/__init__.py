"""The run room: Locust, SIP engine processes, probes, faults, capture, records, health.

    runner.py       one run: its folder, its parts, its end (summary, bundle)
    local.py        a run on one machine; distributed.py: Locust's master and workers
    engines.py      SIP engine processes and their port layout; registered_agents.py
    load.py         what Locust users share: caps, breaker, records; users.py the users and shape
    calls.py        a CallSpec per call; probes.py, faults.py, processes.py, capture.py
    recorder.py     append-only JSON lines; progress.py the terminal; health.py the sampler
"""
