"""The verdict room: records, probes and health in; SLA lines and a verdict out.

No gevent, Locust or pjsua2 here (tests/test_boundaries.py): the same code judges a
live run and a bundle on another machine.

    sla.py          the SLA lines and the run's verdict; stats.py their intervals;
                    decidable.py whether a scenario can decide its lines at all
    connect.py      RFC 6076 and the call-center view; media.py summary.json's media percentiles
    availability.py probes; failover.py RTO; generator.py the generator's validity
    summary.py      summary.json from a run folder; recordings.py PESQ of the sample
    hearing.py      what the recorded calls heard (call.expect prompts, dead air, one-way audio)
"""
