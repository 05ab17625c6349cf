"""`callproof run SCENARIO`: run a scenario and write its run folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", help="a scenario file, or the name of a bundled one (callproof scenarios)")
    parser.add_argument("--target", metavar="URI", help="call this SIP URI instead of the scenario's target")
    parser.add_argument("--out", metavar="DIR", type=Path, help="run folder (default callproof-results/NAME-TIME)")
    parser.add_argument("--duration", metavar="SECONDS", type=float, help="override the scenario's duration")
    parser.add_argument("--web", action="store_true", help="serve Locust's web UI while the run goes")
    parser.add_argument("--web-port", type=int, default=8089, metavar="PORT", help="web UI port (default 8089)")
    parser.add_argument("--csv", metavar="PREFIX", help="also write Locust's CSV statistics with this prefix")
    parser.add_argument("--metrics-port", type=int, metavar="PORT",
                        help="serve the run's live figures as OpenMetrics for Prometheus (docs/live-metrics.md)")
    parser.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                        help="the address the metrics endpoint binds (default 127.0.0.1)")
    parser.add_argument("--quiet", action="store_true", help="no progress line or table")
    parser.add_argument("--key", metavar="PATH", type=Path,
                        help="Ed25519 key that signs the bundle (default: your per-user key, made once)")
    parser.add_argument("--lang", choices=("en", "zh"), default="en", help="report language (default en)")
    dist = parser.add_argument_group("distributed mode (Locust master/worker)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="run the shape and collect records; place no calls")
    role.add_argument("--worker", action="store_true", help="place calls for a master")
    dist.add_argument("--expect-workers", type=int, default=1, metavar="N", help="master: wait for N workers")
    dist.add_argument("--master-host", default="127.0.0.1", metavar="HOST",
                      help="worker: the master's address; master: the address to bind (default 127.0.0.1)")
    dist.add_argument("--master-port", type=int, default=5557, metavar="PORT", help="default 5557")


def main(args: argparse.Namespace) -> int:
    # Locust monkey-patches the process with gevent when imported: first, and only here.
    import locust  # noqa: F401

    from callproof.harness.errors import BadInput
    from callproof.harness.run.runner import RunOptions, run_scenario
    from callproof.harness.scenario.loader import load_scenario
    from callproof.harness.scenario.model import ScenarioOverrides

    if args.duration is not None and args.duration <= 0:
        raise BadInput(f"--duration must be greater than 0 (got {args.duration:g})")
    if args.expect_workers < 1:
        raise BadInput(f"--expect-workers must be at least 1 (got {args.expect_workers})")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise BadInput(f"--metrics-port must be a port number from 1 to 65535 (got {args.metrics_port})")
    if args.metrics_port is not None and args.worker:
        raise BadInput("--metrics-port is for the master, which serves the whole run's figures, not for a worker")
    scenario = load_scenario(args.scenario, overrides=ScenarioOverrides(target_uri=args.target,
                                                                       duration_s=args.duration))
    for note in scenario.notes:
        print(f"callproof: {note}", file=sys.stderr)
    role = "master" if args.master else "worker" if args.worker else "local"
    options = RunOptions(out_dir=args.out, role=role, web=args.web, web_port=args.web_port, csv_prefix=args.csv,
                         master_host=args.master_host, master_port=args.master_port,
                         expect_workers=args.expect_workers, quiet=args.quiet, key_path=args.key, lang=args.lang,
                         metrics_port=args.metrics_port, metrics_host=args.metrics_host)
    return run_scenario(scenario, options)
