"""Shared inputs of the docker/ tests: the files as a user's machine would see them."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.peers.kamailio import REPO_ROOT

DOCKER_DIR = REPO_ROOT / "docker"
ASTERISK_DIR = DOCKER_DIR / "asterisk"
COMPOSE_FILE = DOCKER_DIR / "compose.yaml"
WORKFLOW_FILE = DOCKER_DIR / "ci" / "github-actions.yml"
CI_DOC = REPO_ROOT / "docs" / "ci-against-asterisk.md"  # the page that describes compose.yaml and the recipe
FAILOVER_DOC = REPO_ROOT / "docs" / "failover.md"
# Where compose mounts docker/asterisk inside the Asterisk containers.
ASTERISK_MOUNT = "/callproof/asterisk"


def render_asterisk(output_dir: Path, **variables: str) -> subprocess.CompletedProcess:
    """Run docker/asterisk/render.sh natively, as the container's entrypoint does."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CALLPROOF_")}
    env.update(variables)
    return subprocess.run(
        ["sh", str(ASTERISK_DIR / "render.sh"), str(ASTERISK_DIR), str(output_dir)],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


@pytest.fixture(scope="session")
def rendered_asterisk(tmp_path_factory) -> Path:
    """docker/asterisk rendered with every variable at its default."""
    output_dir = tmp_path_factory.mktemp("asterisk-etc")
    completed = render_asterisk(output_dir)
    assert completed.returncode == 0, completed.stderr
    return output_dir


@pytest.fixture(scope="session")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def load_scenario(name: str) -> dict:
    return yaml.safe_load((REPO_ROOT / "scenarios" / f"{name}.yaml").read_text())
