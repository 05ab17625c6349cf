"""Every shell command shown in README.md, docs/*.md and bench/README.md works.

Each command of a ```sh block matches one rule, and each rule checks it twice:

- `parse`, in this process and in milliseconds (every test run): a `callproof` line by
  `callproof.harness.cli.build_parser()`, and `run`'s scenario loads with its
  --target/--duration; `make` targets exist in the Makefile; `docker compose` names
  services, profiles and options of docker/compose.yaml, and what it runs in a
  container parses too; a bench's options are its parser's; `export` sets variables
  the bundled scenarios read; `ssh-keygen` is exactly the command the report prints.
- `run`, with the real program (e2e: child processes, seconds each), page by page in
  the page's order, in a private workspace holding what the reader brings (a signed
  bundle named BUNDLE, the vendor's vendor.pub, an allowed_signers file, captures
  named CAPTURE.pcap/.pcapng, a signed results/smoke): `callproof scenarios`,
  `analyze`, `keygen`, `verify`, `report`, `engine info`, `ssh-keygen -Y verify`,
  `mkdir` for real; `make -n`; docker-compose's own `config` for the profiles; the
  bench's own argparse parser. What needs Docker, a PBX, sudo or an hour (`callproof
  run`, `engine build`, `docker compose up`) stops at its parser.

A command no rule knows fails: add a rule here rather than let it pass unseen.
The README's newcomer sequence also runs for real, `callproof run` included (e2e).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import yaml

from callproof.harness.cli import build_parser
from callproof.harness.errors import BadInput
from callproof.harness.run import scenario_commands
from callproof.harness.run.worker_auth import SECRET_ENV
from callproof.harness.scenario.loader import bundled_dir, list_bundled, load_scenario
from callproof.harness.scenario.model import Permits, ScenarioOverrides
from callproof.reports import bundle, i18n, keys
from tests.docs.markdown import README, ROOT, Command, commands, pages
from tests.reports.synthetic_run import make_run
from tests.rtp_analysis import capgen

COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
TIMEOUT_S = 180


# -- the workspace: what a reader of the pages has at hand ---------------------------------

@pytest.fixture(scope="session")
def inputs(tmp_path_factory) -> Path:
    """Built once; each page gets a copy."""
    ws = tmp_path_factory.mktemp("reader")
    default_key = ws / "home" / ".config" / "callproof" / "signing_key"
    default_key.parent.mkdir(parents=True)
    keys.generate(default_key)  # the per-user key `callproof run` and `report` sign with
    # The vendor signed BUNDLE with a key the reader never sees; the reader holds its vendor.pub.
    keys.generate(signer := tmp_path_factory.mktemp("vendor") / "vendor")
    shutil.copy(signer.with_suffix(".pub"), ws / "vendor.pub")
    (ws / "allowed_signers").write_text(f"vendor@example {(ws / 'vendor.pub').read_text()}")
    make_run(ws / "BUNDLE", calls=60)
    bundle.finalize(ws / "BUNDLE", key_path=signer, notify=lambda message: None)
    make_run(ws / "results" / "smoke", calls=60, seed=3)
    bundle.finalize(ws / "results" / "smoke", key_path=default_key, notify=lambda message: None)
    streams = []
    for i, drop in enumerate((frozenset(), frozenset({10, 11, 40}))):
        datagrams, _ = capgen.rtp_stream(src="10.0.0.1", sport=16000 + 2 * i, dst="10.0.0.2", dport=20000 + 2 * i,
                                         ssrc=0x1000 + i, count=200, drop=drop)
        streams.append(datagrams)
    merged = capgen.merge(*streams)
    (ws / "CAPTURE.pcap").write_bytes(capgen.pcap_bytes(merged))
    (ws / "CAPTURE.pcapng").write_bytes(capgen.pcapng_bytes(merged))
    shim = f'#!/bin/sh\nexec "{sys.executable}" -P -m callproof.harness.cli "$@"\n'
    for folder in (ws / "bin", ws / ".venv" / "bin"):  # `callproof` on PATH, and .venv/bin/callproof
        folder.mkdir(parents=True)
        (folder / "callproof").write_text(shim)
        (folder / "callproof").chmod(0o755)
    return ws


@dataclasses.dataclass
class Reader:
    """One page's reader: a private workspace, and the environment commands run in."""

    ws: Path

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"}
        env.update(HOME=str(self.ws / "home"), PATH=f"{self.ws / 'bin'}{os.pathsep}{env.get('PATH', '')}")
        return env

    def bash(self, line: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(["bash", "-c", line], cwd=cwd or self.ws, env=self.env, capture_output=True,
                              text=True, timeout=TIMEOUT_S)


def ran(done: subprocess.CompletedProcess, command: Command, code: int = 0) -> str:
    output = done.stdout + done.stderr
    assert done.returncode == code, f"{command.where}: `{command.text}` exited {done.returncode}:\n{output[-3000:]}"
    return done.stdout


# -- callproof ---------------------------------------------------------------------------

def parse_callproof(argv: list[str], command: Command):
    try:
        return build_parser().parse_args(argv)
    except SystemExit as exc:
        pytest.fail(f"{command.where}: callproof's parser refuses `{command.text}` (exit {exc.code})")


def callproof_args(command: Command):
    words = shlex.split(command.text)
    assert words[0] in ("callproof", ".venv/bin/callproof"), command.where
    return parse_callproof(words[1:], command)


def check_scenario_loads(args, command: Command) -> None:
    """`callproof run`: its scenario (a bundled name, or a path from the checkout) loads with the overrides."""
    source = args.scenario
    if source not in {name for name, _ in list_bundled()}:
        assert (ROOT / source).is_file(), f"{command.where}: no scenario {source}"
        source = ROOT / source
    overrides = ScenarioOverrides(target_uri=args.target, duration_s=args.duration)
    scenario = load_scenario(source, overrides=overrides, offline=True)  # offline: credentials need not be set here
    if not args.worker:  # a scenario that starts programs: the page shows the flag and a key kept for it
        scenario_commands.check_allowed(scenario, Permits(commands=args.allow_scenario_commands,
                                                          pid_files=frozenset(args.allow_pid_file)),
                                        key_path=args.key)


def action(args) -> tuple[str, str | None]:
    return args.command, getattr(args, "action", None)


def expect_scenarios(out: str, command: Command, reader: Reader) -> None:
    assert {name for name, _ in list_bundled()} <= set(re.findall(r"^(\S+)", out, flags=re.MULTILINE)), out


def expect_streams(out: str, command: Command, reader: Reader) -> None:
    if "--json" in command.text:
        streams = json.loads(out)
        assert len(streams) == 2 and sorted(s["lost"] for s in streams) == [0, 3], out
    else:
        assert "No RTP streams found" not in out and len(out.splitlines()) >= 3, out


def expect_key(out: str, command: Command, reader: Reader) -> None:
    path = shlex.split(command.text)[-1]
    key = reader.ws / "home" / path[2:] if path.startswith("~/") else reader.ws / path
    assert key.is_file() and stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert (key.parent / f"{key.name}.pub").is_file(), key


def expect_nothing_more(out: str, command: Command, reader: Reader) -> None:
    """Exit 0 is the whole claim (`verify`: intact and signed by the key given)."""


# Subcommands run for real, and what their output must show; the others stop at the parser:
# `run` needs the SIP engine and up to hours (the README's runs in the e2e sequence below),
# `engine build` and `engine uninstall` would change this machine's engine.
RUN_FOR_REAL = {
    ("scenarios", None): expect_scenarios,
    ("analyze", None): expect_streams,
    ("keygen", None): expect_key,
    ("verify", None): expect_nothing_more,
    ("report", None): expect_nothing_more,
    ("engine", "info"): expect_nothing_more,
}
PARSED_ONLY = {("run", None), ("engine", "build"), ("engine", "uninstall")}


def parse_callproof_line(command: Command) -> None:
    args = callproof_args(command)
    if action(args) == ("run", None):
        check_scenario_loads(args, command)
    assert action(args) in RUN_FOR_REAL or action(args) in PARSED_ONLY, (
        f"{command.where}: no rule for `callproof {' '.join(a for a in action(args) if a)}`; add one in {__name__}")


def run_callproof_line(command: Command, reader: Reader) -> None:
    expect = RUN_FOR_REAL.get(action(callproof_args(command)))
    if expect is not None:
        expect(ran(reader.bash(command.text), command), command, reader)


# -- stock OpenSSH ------------------------------------------------------------------------

def parse_stock_verify(command: Command) -> None:
    assert command.text == i18n.STOCK_VERIFY, f"{command.where}: the report prints `{i18n.STOCK_VERIFY}`"


def run_stock_verify(command: Command, reader: Reader) -> None:
    """Run by bash inside a copy of the bundle, `ID` being the principal the allowed_signers file names."""
    folder = Path(shutil.copytree(reader.ws / "BUNDLE", reader.ws / "bundle-for-ssh-keygen"))
    (folder / "allowed_signers").write_text(f"ID {(reader.ws / 'vendor.pub').read_text()}")
    out = ran(reader.bash(command.text, cwd=folder), command)
    assert out.count(": OK\n") >= 10, out


# -- make, mkdir, export -----------------------------------------------------------------

def parse_make(command: Command) -> None:
    targets = shlex.split(command.text)[1:]
    defined = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE))
    assert targets and set(targets) <= defined, f"{command.where}: Makefile targets are {sorted(defined)}"


def run_make(command: Command, reader: Reader) -> None:
    targets = shlex.split(command.text)[1:]
    done = subprocess.run(["make", "-n", "-C", str(ROOT), *targets], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command.where}: `make -n {' '.join(targets)}`: {done.stderr}"


def parse_mkdir(command: Command) -> None:
    assert re.fullmatch(r"mkdir -p ~/[\w/.-]+", command.text), command.where


def run_in_bash(command: Command, reader: Reader) -> None:
    ran(reader.bash(command.text), command)


def parse_export(command: Command) -> None:
    named = set()
    for path in bundled_dir().glob("*.yaml"):
        data = yaml.safe_load(path.read_text())
        credentials = (data.get("target") or {}).get("credentials") or {}
        named |= {credentials.get("username_env"), credentials.get("password_env")}
        named.add((data.get("agents") or {}).get("password_env"))
    words = shlex.split(command.text)[1:]
    assert words and all("=" in word for word in words), command.where
    named.add(SECRET_ENV)  # distributed mode's shared secret (callproof.harness.run.worker_auth)
    for word in words:
        assert word.split("=", 1)[0] in named, f"{command.where}: no bundled scenario reads {word.split('=')[0]}"


# -- docker compose ---------------------------------------------------------------------------

# The options each subcommand of the pages takes, and whether the option takes a value.
COMPOSE_OPTIONS = {
    "up": {"--detach": False, "--wait": False},
    "build": {"--build-arg": True},
    "run": {"--rm": False, "-v": True, "--use-aliases": False},
    "logs": {},
    "down": {"--volumes": False},
    "exec": {},
}


@dataclasses.dataclass(frozen=True)
class ComposeLine:
    profiles: list[str]
    sub: str
    service: str | None
    args: list[str]
    build_args: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def active(self) -> list[str]:
        """Profiles in effect: the ones given, and for `up`, `run` and `build` the named service's own
        (the Compose specification); `logs` and `exec` are given theirs, as some Compose versions do
        not enable them (docker/compose#9986)."""
        named = []
        if self.service and self.sub in ("up", "run", "build"):
            named = compose()["services"].get(self.service, {}).get("profiles", [])
        return sorted({*self.profiles, *named})


def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def compose_line(command: Command) -> ComposeLine:
    words = shlex.split(command.text)
    assert words[:4] == ["docker", "compose", "-f", "docker/compose.yaml"], command.where
    rest, profiles = words[4:], []
    while rest and rest[0] == "--profile":
        profiles.append(rest[1])
        rest = rest[2:]
    sub, rest = rest[0], rest[1:]
    assert sub in COMPOSE_OPTIONS, f"{command.where}: no rule for `docker compose {sub}`; add one in {__name__}"
    build_args = {}
    while rest and rest[0].startswith("-"):
        option = rest.pop(0)
        assert option in COMPOSE_OPTIONS[sub], f"{command.where}: `{option}` for `docker compose {sub}`"
        if COMPOSE_OPTIONS[sub][option]:
            value = rest.pop(0)
            if option == "--build-arg":
                name, _, build_args[name] = value.partition("=")
    return ComposeLine(profiles, sub, rest[0] if rest else None, rest[1:], build_args)


def parse_compose(command: Command) -> None:
    line = compose_line(command)
    services = compose()["services"]
    profiles = {p for service in services.values() for p in service.get("profiles", [])}
    assert set(line.profiles) <= profiles, f"{command.where}: profiles {line.profiles}, compose has {profiles}"
    if line.service is None:
        assert line.sub in ("up", "down"), f"{command.where}: `docker compose {line.sub}` needs a service"
        return
    assert line.service in services, f"{command.where}: no service {line.service}"
    assert set(services[line.service].get("profiles", [])) & set(line.active), (
        f"{command.where}: service {line.service} is not in the profiles {line.active}")
    if line.sub == "run":
        # The container runs the image's ENTRYPOINT with these words, from working_dir with ../scenarios mounted.
        entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", DOCKERFILE.read_text(), flags=re.MULTILINE)
        assert line.service == "callproof" and json.loads(entrypoint[1]) == ["callproof"], command.where
        args = parse_callproof(line.args, command)
        if action(args) == ("run", None):
            check_scenario_loads(args, command)
        else:
            assert action(args) in RUN_FOR_REAL or action(args) in PARSED_ONLY, command.where
    elif line.sub == "build":
        declared = set(re.findall(r"^ARG (\w+)", DOCKERFILE.read_text(), flags=re.MULTILINE))
        assert set(line.build_args) <= declared, f"{command.where}: the Dockerfile declares {sorted(declared)}"
        if "PJPROJECT_VERSION" in line.build_args:
            # The pinned release's checksum is the one the engine page's table gives for it.
            table = release_checksums(command.page)
            assert line.build_args.get("PJPROJECT_TAR_SHA256") == table[line.build_args["PJPROJECT_VERSION"]], (
                f"{command.where}: PJPROJECT_TAR_SHA256 is not the table's for this version")
        assert not line.args, command.where
    elif line.sub == "exec":
        healthcheck = services[line.service]["healthcheck"]["test"]
        assert line.args == healthcheck[1:], f"{command.where}: not what compose runs as {line.service}'s health"
    else:
        assert not line.args, command.where


def run_compose(command: Command, reader: Reader) -> None:
    """docker-compose's own parser (no Docker engine needed) sees the service with these profiles."""
    line = compose_line(command)
    argv = ["docker-compose", "-f", str(COMPOSE_FILE)]
    for profile in line.active:
        argv += ["--profile", profile]
    done = subprocess.run([*argv, "config", "--services"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"{command.where}: {done.stderr}"
    assert done.stdout.split() and (line.service is None or line.service in done.stdout.split()), done.stdout


# -- an upstream pjproject release, downloaded by hand (docs/engine.md) ---------------------

RELEASE_URL = "https://github.com/pjsip/pjproject/archive/refs/tags/$V.tar.gz"
RELEASE_LINES = {  # the only forms the page may use, `$V` being the release it set
    "curl": f"curl -fL -o pjproject-$V.tar.gz {RELEASE_URL}",
    "gunzip": "gunzip -c pjproject-$V.tar.gz | sha256sum",
    "tar": "tar xzf pjproject-$V.tar.gz",
    "git clone": "git clone --depth 1 --branch $V https://github.com/pjsip/pjproject",
    "git -C": "git -C pjproject archive --format=tar --prefix=pjproject-$V/ HEAD | sha256sum",
}


def release_checksums(page: Path) -> dict[str, str]:
    """{version: tar SHA-256} from the engine page's table of releases."""
    rows = re.findall(r"^\| ([\d.]+) \| `([0-9a-f]{64})` \|", page.read_text(), flags=re.MULTILINE)
    assert rows, f"{page}: no table of release checksums"
    return dict(rows)


def parse_release_version(command: Command) -> None:
    """`V=X`: a release callproof has a patch set for, with a checksum in the page's table."""
    from callproof.sip.engine.patches import PATCH_SETS

    version = command.text.removeprefix("V=")
    assert version in release_checksums(command.page), f"{command.where}: {version} has no checksum in the table"
    assert ("upstream", version) in PATCH_SETS, f"{command.where}: callproof has no patch set for {version}"


def parse_release_line(command: Command) -> None:
    """Only the exact forms of RELEASE_LINES match this rule; the page must also set `V` before them."""
    earlier = [c.text for c in commands(command.page) if c.block == command.block and c.line < command.line]
    assert any(re.fullmatch(r"V=[\d.]+", text) for text in earlier) or command.text.startswith("git "), (
        f"{command.where}: uses $V, which no earlier line of its block sets")


# -- benchmarks -----------------------------------------------------------------------------

def bench_words(command: Command) -> tuple[Path, list[str]]:
    words = shlex.split(command.text)
    assert words[0] == ".venv/bin/python" and words[1].startswith("bench/"), command.where
    return ROOT / words[1], words[2:]


def parse_bench(command: Command) -> None:
    script, args = bench_words(command)
    assert script.is_file(), command.where
    declared = set(re.findall(r'add_argument\("(--[\w-]+)"', script.read_text()))
    used = {arg for arg in args if arg.startswith("--")}
    assert used <= declared, f"{command.where}: {script.name} declares {sorted(declared)}"


def run_bench_parser(command: Command, reader: Reader) -> None:
    """The bench's own argparse parser takes the arguments (its main() stops right after parsing)."""
    script, args = bench_words(command)
    probe = (
        "import argparse, json, runpy, sys\n"
        "parse = argparse.ArgumentParser.parse_args\n"
        "def parsed(self, args=None, namespace=None):\n"
        "    print(json.dumps(vars(parse(self, args, namespace)), default=str)); raise SystemExit(0)\n"
        "argparse.ArgumentParser.parse_args = parsed\n"
        f"sys.argv = {[str(script), *args]!r}; sys.path[0] = {str(script.parent)!r}\n"
        f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
    )
    done = subprocess.run([sys.executable, "-P", "-c", probe], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, f"{command.where}: {done.stderr[-2000:]}"
    json.loads(done.stdout.splitlines()[-1])  # the parser really ran and accepted every argument


# -- the rules -------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Rule:
    pattern: str
    parse: Callable[[Command], None]
    run: Callable[[Command, Reader], None] | None  # None: nothing more to run here (the parse is all)


RULES = [
    Rule(r"(\.venv/bin/)?callproof ", parse_callproof_line, run_callproof_line),
    Rule(re.escape("ssh-keygen -Y verify "), parse_stock_verify, run_stock_verify),
    Rule(r"make ", parse_make, run_make),
    Rule(r"mkdir ", parse_mkdir, run_in_bash),
    Rule(r"export ", parse_export, None),
    Rule(r"docker compose ", parse_compose, run_compose),
    Rule(r"\.venv/bin/python bench/", parse_bench, run_bench_parser),
    Rule(r"V=[\d.]+$", parse_release_version, None),
    Rule("(" + "|".join(re.escape(line) for line in RELEASE_LINES.values()) + ")$", parse_release_line, None),
]


def rule_for(command: Command) -> Rule:
    for rule in RULES:
        if re.match(rule.pattern, command.text):
            return rule
    pytest.fail(f"{command.where}: no rule knows `{command.text}`; add one in {__name__}")


ALL = [command for page in pages() for command in commands(page)]
PAGES = pages()


@pytest.mark.parametrize("command", ALL, ids=[c.where for c in ALL])
def test_every_command_parses(command):
    rule_for(command).parse(command)


@pytest.mark.e2e
@pytest.mark.parametrize("page", PAGES, ids=[str(p.relative_to(ROOT)) for p in PAGES])
def test_the_commands_of_a_page_run_in_its_order(page, inputs, tmp_path):
    reader = Reader(Path(shutil.copytree(inputs, tmp_path / "ws", symlinks=True)))
    for command in commands(page):
        rule = rule_for(command)
        rule.parse(command)
        if rule.run is not None:
            rule.run(command, reader)


def test_the_pages_show_commands():
    # The extraction can fail: every page with a ```sh block yields its commands.
    assert len(ALL) >= 30
    assert {"README.md", "scenarios.md", "evidence-bundle.md", "analyzing-captures.md", "engine.md",
            "ci-against-asterisk.md", "failover.md"} <= {c.page.name for c in ALL}
    assert any(c.page == ROOT / "bench" / "README.md" for c in ALL)


@pytest.mark.parametrize("text, message", [
    ("curl https://example.com | sh", "no rule knows"),
    ("callproof run smoke --durations 20", "parser refuses"),
    ("callproof run no-such-scenario", "no scenario"),
    ("callproof run failover --out results/failover", "allow-scenario-commands"),
    ("callproof run smoke --duration 2", "ramp"),
    ("docker compose -f docker/compose.yaml logs freeswitch", "no service"),
    ("docker compose -f docker/compose.yaml --profile asterisk logs kamailio", "not in the profiles"),
    ("docker compose -f docker/compose.yaml stop asterisk", "no rule for `docker compose stop`"),
    ("make smoke-test", "Makefile targets"),
    ("export CALLPROOF_SIP_PASS=x", "no bundled scenario reads"),
    (".venv/bin/python bench/capacity.py --holds 30", "declares"),
    ("ssh-keygen -Y verify -f allowed_signers -I ID -n callproof-bundle -s SHA256SUMS.sig < SHA256SUMS", "prints"),
])
def test_a_wrong_command_fails(text, message):
    with pytest.raises((AssertionError, pytest.fail.Exception, BadInput), match=message):
        rule_for(Command(README, 1, text, 0)).parse(Command(README, 1, text, 0))


# -- the README, as a newcomer runs it after `make smoke` ---------------------------------------

@pytest.mark.e2e
def test_the_readme_sequence_runs_for_real(inputs, tmp_path):
    """The README's block after `make smoke`, in order, `callproof run` included, from an empty folder."""
    reader = Reader(tmp_path)
    shutil.copytree(inputs / "bin", tmp_path / "bin")
    shutil.copytree(inputs / ".venv", tmp_path / ".venv")
    (tmp_path / "home").mkdir()
    block = [c for c in commands(README) if c.text.startswith(".venv/bin/callproof")]
    assert [shlex.split(c.text)[1] for c in block] == ["scenarios", "run", "verify", "report", "engine"]
    for command in block:
        done = reader.bash(command.text)
        if " run " in command.text:
            # 20 s is too few calls to decide most lines: INCONCLUSIVE, as the README says; never an error.
            ran(done, command, code=4)
            assert "made a signing key" in done.stderr
        else:
            ran(done, command)
    assert json.loads((tmp_path / "results" / "smoke" / "summary.json").read_text())["calls"]["attempted"] > 40
