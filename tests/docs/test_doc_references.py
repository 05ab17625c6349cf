"""What the pages name exists: links and their anchors, repository paths, modules and their names.

Module names are checked without importing the modules (importing Locust patches the
process): the module is found by `importlib.util.find_spec`, a name in it by reading
its source.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import re
from pathlib import Path

import pytest

from callproof.harness.scenario.loader import list_bundled
from tests.docs.markdown import README, ROOT, backticked, doc, pages, table

PACKAGES = ("harness", "sip", "reports", "rtp_analysis", "scenarios", "tests")
REPO_PATH = re.compile(r"^(?:harness|sip|reports|rtp_analysis|scenarios|tests|bench|docker|docs|\.ci)/[\w./*-]*$"
                       r"|^(?:Makefile|pyproject\.toml)$")
FILE_SUFFIXES = {"py", "jsonl", "json", "yaml", "md", "pcap", "pcapng", "html", "pdf", "xml", "wav", "sig", "toml",
                 "cfg", "list", "txt", "sh", "conf", "pub", "so"}
PAGES = pages()
IDS = [str(p.relative_to(ROOT)) for p in PAGES]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = page.read_text(encoding="utf-8")
    found = set()
    counts: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} (.+)$", text, flags=re.MULTILINE):
        base = slug(heading)
        found.add(base if base not in counts else f"{base}-{counts[base]}")
        counts[base] = counts.get(base, 0) + 1
    return found | set(re.findall(r'<a id="([^"]+)"></a>', text))


def prose(page: Path) -> str:
    """The page without its fenced blocks (code and diagrams are checked elsewhere)."""
    return re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_links_reach_a_file_and_its_heading(page):
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page)):
        if re.match(r"https?://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        assert linked.exists(), f"{page.name}: link to {target}: no {linked}"
        if anchor:
            assert anchor in anchors(linked), f"{page.name}: link to {target}: no heading #{anchor}"


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_repository_paths_exist(page):
    for token in backticked(page.read_text(encoding="utf-8")):
        if REPO_PATH.match(token):
            assert list(ROOT.glob(token.rstrip("/"))), f"{page.name}: `{token}` is not in the repository"


@functools.cache
def top_level_names(path: Path) -> dict[str, set[str]]:
    """Names a module defines at its top level, each with the names its class body defines."""
    names: dict[str, set[str]] = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            members = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            members |= {t.id for n in node.body if isinstance(n, ast.AnnAssign) for t in [n.target]
                        if isinstance(t, ast.Name)}
            names[node.name] = members
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update({t.id: set() for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update({(a.asname or a.name).split(".")[0]: set() for a in node.names})
    return names


def resolves(dotted: str) -> bool:
    """`callproof.pkg.module[.Name[.member]]` names a module, or a name defined in one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 1, -1):
        module = ".".join(parts[:cut])
        try:
            spec = importlib.util.find_spec(module)
        except ModuleNotFoundError:
            spec = None
        if spec is None:
            continue
        rest = parts[cut:]
        if not rest:
            return True
        if not spec.origin or not spec.origin.endswith(".py"):
            return False
        defined = top_level_names(Path(spec.origin))
        return rest[0] in defined and (len(rest) == 1 or (len(rest) == 2 and rest[1] in defined[rest[0]]))
    return False


@pytest.mark.parametrize("page", PAGES, ids=IDS)
def test_callproof_module_names_resolve(page):
    for dotted in re.findall(r"\bcallproof(?:\.[A-Za-z_]\w*)+", page.read_text(encoding="utf-8")):
        assert resolves(dotted), f"{page.name}: `{dotted}` names no module or name of callproof"


def module_files() -> dict[str, list[Path]]:
    stems: dict[str, list[Path]] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            stems.setdefault(path.stem, []).append(path)
    return stems


def test_architecture_names_real_modules_and_names():
    """The architecture page's short names (`engines.Fleet`, `users.py`, `Run._conclude`) exist."""
    text = doc("architecture.md").read_text(encoding="utf-8")
    text = re.sub(r"\bcallproof(?:\.[A-Za-z_]\w*)+", "", text)  # checked in full above
    stems = module_files()
    for file in re.findall(r"\b(\w+)\.py\b", text):
        assert file in stems, f"architecture.md: no module {file}.py"
    for match in re.finditer(r"(?=\b([a-z_]+)\.([A-Za-z_]\w*)(?:\.([A-Za-z_]\w*))?)", text):
        stem, name, member = match.groups()
        if stem not in stems or name in FILE_SUFFIXES:
            continue
        defined = [top_level_names(path) for path in stems[stem]]
        assert any(name in d and (member is None or member in d[name] or member in FILE_SUFFIXES)
                   for d in defined), f"architecture.md: {stem}.{name}{'.' + member if member else ''} is not defined"


def test_the_locust_messages_and_worker_events_are_the_codes():
    text = doc("architecture.md").read_text(encoding="utf-8")
    distributed = (ROOT / "harness" / "run" / "distributed.py").read_text()
    messages = set(re.findall(r'^\w+_MESSAGE = "(callproof_\w+)"', distributed, flags=re.MULTILINE))
    documented = {row[0].strip("`") for row in table(text, "message")}
    assert messages and documented == messages
    worker = (ROOT / "sip" / "worker.py").read_text()
    sent = set(re.findall(r'protocol\.send\("(\w+)"', worker)) | set(re.findall(r'send, "(\w+)"', worker))
    ops = set(re.findall(r'op == "(\w+)"', worker)) | set(re.findall(r'"op"\) != "(\w+)"', worker))
    rows = table(text, "parent → worker")
    documented_events = {e for row in rows for e in re.findall(r'"ev": "(\w+)"', row[1])}
    documented_ops = {o for row in rows for o in re.findall(r'"op": "(\w+)"', row[0])}
    assert sent and documented_events == sent
    assert ops and documented_ops == ops


def test_the_boundary_table_is_the_boundary_tests():
    from tests.test_boundaries import RULES

    rows = table(doc("architecture.md").read_text(encoding="utf-8"), "room")
    assert [row[0].strip("`").rstrip("/") for row in rows] == [where for where, _, _ in RULES]
    assert [row[2] for row in rows] == [why for _, _, why in RULES]


def test_the_scenario_table_lists_the_bundled_scenarios():
    rows = table(doc("scenarios.md").read_text(encoding="utf-8"), "Scenario")
    assert sorted(backticked(row[0])[0] for row in rows) == sorted(name for name, _ in list_bundled())


def test_the_readme_links_every_page():
    linked = {(README.parent / target).resolve() for target in re.findall(r"\]\(([^)#\s]+)", README.read_text())}
    for page in PAGES[1:]:
        assert page.resolve() in linked, f"README.md does not link {page.relative_to(ROOT)}"


def test_the_readme_stays_a_newcomers_page():
    lines = README.read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move the detail to docs/"
