"""A run on one machine: Locust's local runner, our SIP engine processes, the agents.

Stopping (end of shape, circuit breaker, SIGINT/SIGTERM): no new calls; calls in
progress may end on their own for CALLS_END_GRACE_S (a signal skips it), then the
rest are hung up and recorded within HANG_UP_WAIT_S (harness.run.runner says why).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time

import gevent

from callproof.harness.errors import HarnessError
from callproof.harness.run.calls import fixed_target
from callproof.harness.run.control import control_calls
from callproof.harness.run.engines import EmbeddedTarget, Fleet, check_registrations
from callproof.harness.run.load import LoadContext
from callproof.harness.run.progress import Progress
from callproof.harness.run.recorder import CallLog
from callproof.harness.run.registered_agents import agent_spec
from callproof.harness.run.runner import CALLS_END_GRACE_S, HANG_UP_WAIT_S, HEALTH_INTERVAL_S, Run
from callproof.harness.run.users import ArrivalScheduler, LoadEnvironment, PlanShape, SipCaller
from callproof.harness.scenario import plan
from callproof.reports import layout
from callproof.sip.engine.info import without_local_paths
from callproof.sip.errors import EngineError
from callproof.sip.pool import EnginePool
from callproof.sip.settings import AccountSpec


class LocalRun(Run):
    def run(self) -> None:
        scenario = self.scenario
        fleet = self._fleet(self.logs_dir)
        self._start_processes()
        choose = fixed_target(scenario.target.uri)
        probe_uri = scenario.probes.uri or scenario.target.uri
        if scenario.target.embedded:
            embedded = self._start_agents(fleet)
            choose = embedded.choose
            probe_uri = embedded.probe_uri or probe_uri
        elif scenario.agents.register_to:
            self._register_agents(fleet)
        callers = self._start_callers(fleet, plan.provision(scenario) + control_calls(scenario))
        self._prepare_probes(fleet, probe_uri)
        control = self._prepare_control(fleet, callers, self._log(layout.CONTROL).write)
        self._ports_event()
        self._start_capture(fleet)  # every engine has its ports now, and no call has been placed
        self._start_probes()
        context = self._context(callers, choose, sink=self.calls.write)
        context.arrivals = plan.load_arrival_times(scenario.load, scenario.seed)
        environment = LoadEnvironment(user_classes=[SipCaller, ArrivalScheduler],
                                  shape_class=PlanShape(scenario.load, is_stopping=lambda: context.stopping))
        environment.callproof = context
        context.fire_request = environment.events.request.fire
        runner = environment.create_local_runner()
        self._serve(environment)
        self._install_signals(lambda: setattr(context, "stopping", True))
        started = time.monotonic()
        context.arrivals_start = started
        self._start_faults(started)
        self._start_window()
        self._calls_start()
        runner.start_shape()
        if control is not None:
            control.start()
        self._watch(runner, context, started)
        self._finish(runner, context)

    def _start_agents(self, fleet: Fleet) -> "EmbeddedAgents":
        scenario = self.scenario
        agents = scenario.agents
        spec = agent_spec(scenario)
        agent_log = self._log(layout.AGENTS, CallLog)
        try:
            target = EmbeddedTarget.start(fleet, agents.count, spec, on_inbound=lambda r: agent_log.write(r.to_dict()))
            self._pools.append(target.pool)
            probe_agent = None
            if scenario.probes.call_interval_s:
                # Probes get their own agent: they must never find every agent busy with load.
                probe_agent = fleet.start_pool("probe-agent", 1, agent=dataclasses.asdict(spec),
                                               account=AccountSpec(user="agent").to_dict())
                self._pools.append(probe_agent)
        except EngineError as exc:
            raise HarnessError(f"could not start the embedded agents: {exc}") from None
        self.events.event("agents", processes=len(target.pool.processes), capacity=target.capacity)
        return EmbeddedAgents(target, probe_agent)

    def _start_callers(self, fleet: Fleet, calls: int) -> EnginePool:
        try:
            pool = fleet.start_pool("caller", calls, exact=self.scenario.load.processes)
        except EngineError as exc:
            raise HarnessError(f"could not start the SIP engine: {exc}") from None
        self._pools.append(pool)
        check_registrations(pool, "caller")
        first = pool.processes[0]
        engine = {**without_local_paths(first.engine), "pjproject_version": first.version,
                  "max_calls_per_process": first.capacity,
                  "processes": len(pool.processes), "provisioned_calls": calls,
                  "media": first.settings.media.to_dict()}
        (self._folder / layout.ENGINE).write_text(json.dumps(engine, indent=2) + "\n")
        self.events.event("engine", **engine)
        if not self.options.quiet:
            from callproof.sip.engine.info import summary_line

            print(f"engine: {summary_line(engine)}; {len(pool.processes)} caller processes for {calls} "
                  "concurrent calls", file=sys.stderr)
        return pool

    # -- watching and stopping ------------------------------------------------------

    def _watch(self, runner, context: LoadContext, started: float) -> None:
        from locust.runners import STATE_STOPPED, STATE_STOPPING

        progress = Progress(quiet=self.options.quiet, by_agent=self.scenario.call.agent_marker is not None)
        if context.breaker is not None:
            context.breaker.start(started)
        while runner.state not in (STATE_STOPPED, STATE_STOPPING) and not context.stopping:
            self._signalled.wait(HEALTH_INTERVAL_S)
            now = time.monotonic()
            self._health_event(context)
            if context.breaker is not None:
                trip = context.breaker.check(now)
                if trip is not None and self.stop_reason is None:
                    self.stop_reason = "breaker"
                    self.events.event("breaker", answer_rate=round(trip.answer_rate, 4), calls=trip.calls,
                                      window_s=trip.window_s, at_s=round(trip.at_s, 3))
                    print(f"callproof: circuit breaker: {trip.answer_rate:.0%} of the last {trip.calls} calls "
                          f"answered (floor {context.breaker.min_answer_rate:.0%}); stopping", file=sys.stderr)
                    context.stopping = True
            progress.update(now - started, context)
        context.stopping = True
        progress.done()

    def _health_event(self, context: LoadContext) -> None:
        callers = context.pool
        self.events.event("health", **self._health.sample(self._generator_pids()), **self._engine_health(),
                          in_flight=context.in_flight, provisioned=callers.capacity, attempted=context.attempted,
                          capped=context.capped, lost=context.lost, slot_waits=callers.waited_for_slot,
                          slot_wait_ms_max=round(context.slot_wait_ms_max, 3))

    def _keep_watching(self, context: LoadContext) -> None:
        while True:
            gevent.sleep(HEALTH_INTERVAL_S)
            self._health_event(context)

    def _finish(self, runner, context: LoadContext) -> None:
        """No new call; calls end on their own for a grace time, then are hung up and recorded."""
        context.stopping = True
        if self._control is not None:
            self._control.stopping = True  # its calls in progress end with the load's
        runner.stop()
        # The calls still in progress are measured to their end: health goes on every second.
        watching = gevent.spawn(self._keep_watching, context)
        if not self._signalled.is_set():
            context.drain(CALLS_END_GRACE_S, interrupt=self._signalled)
        control_up = self._control.in_flight if self._control is not None else 0
        if context.in_flight or context.placing or control_up:
            reason = "signal" if self._signalled.is_set() else "end"
            self.events.event("hang_up", calls=context.in_flight, control=control_up, reason=reason)
            if not self.options.quiet:
                print(f"callproof: hanging up the {context.in_flight} calls still up; their records follow "
                      f"(at most {HANG_UP_WAIT_S:g} s)", file=sys.stderr)
            context.pool.hang_up_all()  # the control leg's calls too: they share the caller engines
            if not context.drain(HANG_UP_WAIT_S):
                print(f"callproof: {context.in_flight} calls sent no record within {HANG_UP_WAIT_S:g} s of their "
                      "hang-up; their engines are stopped now (a call still without a record then is counted lost)",
                      file=sys.stderr)
        watching.kill()
        self._health_event(context)
        runner.quit()


class EmbeddedAgents:
    """The embedded target as the load and the probes see it."""

    def __init__(self, target: EmbeddedTarget, probe_agent: EnginePool | None) -> None:
        self.target = target
        self.probe_uri = None
        if probe_agent is not None:
            self.probe_uri = f"sip:agent@127.0.0.1:{probe_agent.processes[0].sip_ports['udp']}"

    def choose(self):
        name, uri = self.target.acquire()
        return uri, lambda: self.target.release(name)
