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
    trust = parser.add_argument_group("what a scenario may do (docs/scenarios.md, \"What a scenario may do\")")
    trust.add_argument("--allow-scenario-commands", action="store_true",
                       help="let the scenario start its processes and faults, which run with your rights "
                            "(needs --key: not your per-user key)")
    trust.add_argument("--allow-env", action="append", default=[], metavar="NAME",
                       help="let a *_env key name this variable too (by default only CALLPROOF_*)")
    trust.add_argument("--allow-prompt", action="append", default=[], metavar="PATH", type=Path,
                       help="let the scenario play this WAV file from outside its folder")
    trust.add_argument("--allow-pid-file", action="append", default=[], metavar="PATH", type=Path,
                       help="let a signal fault signal the PID in this file (by default only processes the run "
                            "started)")
    dist = parser.add_argument_group("distributed mode (Locust master/worker)")
    role = dist.add_mutually_exclusive_group()
    role.add_argument("--master", action="store_true", help="run the shape and collect records; place no calls")
    role.add_argument("--worker", action="store_true", help="place calls for a master")
    dist.add_argument("--expect-workers", type=int, default=1, metavar="N", help="master: wait for N workers")
    dist.add_argument("--master-host", default="127.0.0.1", metavar="HOST",
                      help="worker: the master's address; master: the address to bind (default 127.0.0.1)")
    dist.add_argument("--master-port", type=int, default=5557, metavar="PORT", help="default 5557")
    dist.add_argument("--master-secret-file", type=Path, metavar="PATH",
                      help="the secret master and workers share, in a file only you can read (default: "
                           "$CALLPROOF_MASTER_SECRET); every message is authenticated with it")


def main(args: argparse.Namespace) -> int:
    # Locust monkey-patches the process with gevent when imported: first, and only here.
    import locust  # noqa: F401

    from callproof.harness.errors import BadInput
    from callproof.harness.run import scenario_commands, worker_auth
    from callproof.harness.run.runner import RunOptions, run_scenario
    from callproof.harness.scenario.loader import load_scenario
    from callproof.harness.scenario.model import Permits, ScenarioOverrides
    from callproof.reports.terminal import escape

    if args.expect_workers < 1:
        raise BadInput(f"--expect-workers must be at least 1 (got {args.expect_workers})")
    if args.metrics_port is not None and not 0 < args.metrics_port < 65536:
        raise BadInput(f"--metrics-port must be a port number from 1 to 65535 (got {args.metrics_port})")
    if args.metrics_port is not None and args.worker:
        raise BadInput("--metrics-port is for the master, which serves the whole run's figures, not for a worker")
    permits = Permits(commands=args.allow_scenario_commands, env_names=frozenset(args.allow_env),
                      prompt_files=frozenset(p.resolve() for p in args.allow_prompt),
                      pid_files=frozenset(p.resolve() for p in args.allow_pid_file))
    scenario = load_scenario(args.scenario, overrides=ScenarioOverrides(target_uri=args.target,
                                                                       duration_s=args.duration), permits=permits)
    role = "master" if args.master else "worker" if args.worker else "local"
    if args.master_secret_file is not None and role == "local":
        raise BadInput("--master-secret-file is for --master and --worker: a local run has no workers")
    secret = worker_auth.read_secret(args.master_secret_file) if role != "local" else None
    if role != "worker":  # a worker places calls only: the master starts the scenario's programs
        scenario_commands.check_allowed(scenario, permits, key_path=args.key)
        if scenario_commands.starts_programs(scenario):
            lines = scenario_commands.listing(scenario)
            print(f"callproof: this run starts {len(lines)} program{'s' * (len(lines) != 1)} of the scenario's, "
                  f"with your rights, in {escape(str(scenario.base_dir))}:", *(f"  {line}" for line in lines), sep="\n",
                  file=sys.stderr)
    for note in scenario.notes:
        print(f"callproof: {note}", file=sys.stderr)
    options = RunOptions(out_dir=args.out, role=role, web=args.web, web_port=args.web_port, csv_prefix=args.csv,
                         master_host=args.master_host, master_port=args.master_port,
                         expect_workers=args.expect_workers, quiet=args.quiet, key_path=args.key, lang=args.lang,
                         metrics_port=args.metrics_port, metrics_host=args.metrics_host, permits=permits,
                         master_secret=secret)
    return run_scenario(scenario, options)
