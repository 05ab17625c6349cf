"""docker/compose.yaml, the CI recipe and the pages that describe them, kept in step.

No Docker engine runs here: Debian's docker-compose (v1) parses and
validates the compose file without one, check-jsonschema validates the
workflow against its bundled GitHub schema (offline), and the tables and
command blocks of docs/ci-against-asterisk.md and docs/failover.md are
compared with both files.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.docker.conftest import (
    ASTERISK_DIR,
    CI_DOC,
    COMPOSE_FILE,
    DOCKER_DIR,
    FAILOVER_DOC,
    WORKFLOW_FILE,
    load_scenario,
)

KAMAILIO_CFG = DOCKER_DIR / "kamailio" / "kamailio.cfg"
PROFILES = ["asterisk", "failover", "metrics", "callproof"]
DEFAULT = re.compile(r"\$\{(CALLPROOF_\w+):-([^}]*)\}")


def page(path: Path) -> str:
    assert path.is_file(), f"{path} is missing"
    return path.read_text()


def code_blocks(markdown: str) -> list[list[str]]:
    """Each fenced block's commands: non-empty lines that are not comments."""
    blocks = re.findall(r"```sh\n(.*?)```", markdown, flags=re.DOTALL)
    return [
        [line.strip() for line in block.splitlines() if line.strip() and not line.startswith("#")] for block in blocks
    ]


def table(markdown: str, first_header: str) -> list[list[str]]:
    """Rows of the table whose header starts with `first_header`, cells stripped."""
    lines = markdown.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def backticked(cell: str) -> list[str]:
    return re.findall(r"`([^`]+)`", cell)


def compose_config(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["docker-compose", "-f", str(COMPOSE_FILE), *args, "config", "-q"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("profile", [None, *PROFILES])
def test_docker_compose_accepts_the_file(profile):
    completed = compose_config(*(["--profile", profile] if profile else []))
    assert completed.returncode == 0, completed.stderr


def test_docker_compose_rejects_a_broken_file(tmp_path):
    # The check above can fail: a misspelt key is refused.
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE_FILE.read_text().replace("healthcheck:", "healthchek:", 1))
    completed = subprocess.run(
        ["docker-compose", "-f", str(broken), "config", "-q"], capture_output=True, text=True, timeout=60, check=False
    )
    assert completed.returncode != 0
    assert "healthchek" in completed.stderr


def test_the_workflow_validates_against_the_github_workflow_schema():
    check_jsonschema = Path(sys.executable).parent / "check-jsonschema"
    completed = subprocess.run(
        [str(check_jsonschema), "--builtin-schema", "vendor.github-workflows", str(WORKFLOW_FILE)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_workflow_pins_every_action_to_a_commit():
    steps = yaml.safe_load(WORKFLOW_FILE.read_text())["jobs"]["asterisk-ci"]["steps"]
    uses = [step["uses"] for step in steps if "uses" in step]
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", use) for use in uses), uses


def test_the_documented_ci_commands_are_exactly_the_workflows():
    steps = yaml.safe_load(WORKFLOW_FILE.read_text())["jobs"]["asterisk-ci"]["steps"]
    workflow_commands = [line.strip() for step in steps if "run" in step for line in step["run"].splitlines()]
    (documented,) = code_blocks(page(CI_DOC))
    assert documented == workflow_commands


def test_the_documented_service_table_is_the_compose_file(compose):
    services = compose["services"]
    rows = table(page(CI_DOC), "Service")
    assert [backticked(row[0])[0] for row in rows] == list(services)
    for name_cell, profile_cell, image_cell, ports_cell, volumes_cell in rows:
        service = services[backticked(name_cell)[0]]
        assert backticked(profile_cell) == service["profiles"]
        if "image" in service and "build" not in service:
            assert backticked(image_cell) == [service["image"]]
        else:
            build = service["build"] if isinstance(service["build"], dict) else {"context": service["build"]}
            dockerfile = Path(build["context"], build.get("dockerfile", "Dockerfile"))
            (named,) = backticked(image_cell)
            assert (DOCKER_DIR / dockerfile).resolve() == (DOCKER_DIR.parent / named).resolve()
        assert backticked(ports_cell) == service.get("ports", [])
        assert backticked(volumes_cell) == service["volumes"]


def test_the_documented_variables_and_defaults_are_the_ones_compose_and_render_use(compose):
    rows = table(page(CI_DOC), "Variable")
    documented = {backticked(row[0])[0]: backticked(row[1])[0] for row in rows}
    in_compose = dict(DEFAULT.findall(COMPOSE_FILE.read_text()))
    in_render = dict(re.findall(r': "\$\{(CALLPROOF_\w+):=([^}]*)\}"', (ASTERISK_DIR / "render.sh").read_text()))
    assert documented == in_render
    assert in_compose == in_render


def test_the_documented_extension_table_lists_the_inbound_extensions(rendered_asterisk):
    from tests.docker.asterisk_config import dialplan, parse

    rows = table(page(CI_DOC), "Extension")
    contexts = dialplan(parse(rendered_asterisk / "extensions.conf"))
    assert [backticked(row[0])[0] for row in rows] == list(contexts["callproof-in"])


def test_the_ci_page_says_no_docker_engine_runs_here():
    assert "No Docker engine runs on the project's own CI machines" in page(CI_DOC)


def test_kamailio_gets_only_defines_its_config_documents(compose):
    command = compose["services"]["kamailio"]["command"]
    defines = [command[i + 1].split("=", 1)[0] for i, arg in enumerate(command) if arg == "-A"]
    documented = set(re.findall(r"^#!ifndef (\w+)$", KAMAILIO_CFG.read_text(), flags=re.MULTILINE))
    assert defines and set(defines) <= documented
    assert len(defines) * 2 == len(command)  # nothing but -A NAME=VALUE pairs


def test_kamailio_dispatches_to_the_failover_nodes(compose):
    listed = re.findall(
        r"^1 sip:([\w-]+):5060$", (DOCKER_DIR / "kamailio" / "dispatcher.list").read_text(), re.MULTILINE
    )
    failover_nodes = [
        name for name, service in compose["services"].items()
        if service["profiles"] == ["failover"] and service.get("image", "").startswith("andrius/asterisk:")
    ]  # fmt: skip
    assert listed == failover_nodes == ["asterisk-a", "asterisk-b"]


def test_the_failover_fault_stops_a_dispatched_node(compose):
    scenario = load_scenario("asterisk-failover")
    (fault,) = scenario["faults"]
    verb, container = fault["command"].removeprefix("docker ").split()
    names = {service.get("container_name"): name for name, service in compose["services"].items()}
    assert verb == "stop" and names[container] in ("asterisk-a", "asterisk-b")
    assert scenario["target"]["uri"].split("@")[1] == "kamailio:5060"


def test_the_failover_page_runs_the_failover_scenario_with_the_docker_socket():
    # The rehearsal's block: the one that runs callproof in compose (the page has others).
    (commands,) = [block for block in code_blocks(page(FAILOVER_DOC)) if any(" run --rm " in c for c in block)]
    run = [c for c in commands if " run --rm " in c]
    # A key kept for runs that start programs (the fault runs `docker stop`: issue 14), then the run.
    assert run == [
        "docker compose -f docker/compose.yaml run --rm callproof keygen --out results/scenario-runs",
        (
            "docker compose -f docker/compose.yaml run --rm -v /var/run/docker.sock:/var/run/docker.sock "
            "callproof run scenarios/asterisk-failover.yaml --allow-scenario-commands --key results/scenario-runs "
            "--out results/asterisk-failover"
        ),
    ]
    # The scenario's own header shows the same commands.
    header = (DOCKER_DIR.parent / "scenarios" / "asterisk-failover.yaml").read_text()
    assert all(command in header for command in run)
    assert commands[0] == "docker compose -f docker/compose.yaml --profile failover up --detach --wait"
    assert commands[-1] == "docker compose -f docker/compose.yaml --profile failover down --volumes"
