"""The arrows between callproof's rooms (DESIGN.md), enforced on every import statement.

Each row: a folder (or one module), and the top-level names its modules must never
import, at module level or inside a function. Imports are read from the source, so
a lazy import inside a function counts too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (where, forbidden import prefixes, why)
RULES = [
    ("rtp_analysis", ("callproof.harness", "callproof.sip", "callproof.reports", "locust", "gevent", "pjsua2"),
     "pure metric code: numbers in, numbers out"),
    ("sip", ("callproof.harness", "callproof.reports", "locust"),
     "the SIP engine knows nothing about Locust, scenarios or reports"),
    ("reports", ("callproof.harness", "locust", "gevent", "pjsua2"),
     "reports read only a bundle folder, so any machine can rebuild and check one"),
    ("harness/verdict", ("gevent", "locust", "pjsua2", "callproof.harness.run"),
     "the verdict is pure: it judges a live run and a bundle on another machine alike"),
    ("harness/scenario", ("gevent", "locust", "pjsua2", "callproof.harness.run", "callproof.harness.verdict"),
     "a scenario loads anywhere, without starting anything"),
    ("harness/scenario/model.py", ("*",),
     "the model imports only the standard library"),
]


def package_of(path: Path) -> str:
    return ".".join(("callproof",) + path.relative_to(ROOT).with_suffix("").parts[:-1])


def imported_names(source: str, package: str) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in `source`, a module of `package`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def files(where: str) -> list[Path]:
    target = ROOT / where
    return [target] if target.is_file() else sorted(target.rglob("*.py"))


def breaks(module: str, forbidden: tuple[str, ...]) -> bool:
    if forbidden == ("*",):
        top = module.split(".")[0]
        return module != "__future__" and top not in sys.stdlib_module_names
    return any(module == prefix or module.startswith(prefix + ".") for prefix in forbidden)


@pytest.mark.parametrize(("where", "forbidden", "why"), RULES, ids=[rule[0] for rule in RULES])
def test_room_imports_only_what_its_arrows_allow(where, forbidden, why):
    assert files(where), f"{where} holds no Python files: the rule guards nothing"
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {module}"
             for path in files(where)
             for line, module in imported_names(path.read_text(), package_of(path)) if breaks(module, forbidden)]
    assert not wrong, f"{where}: {why}; but\n" + "\n".join(wrong)


def test_the_checker_sees_lazy_and_relative_imports():
    source = "def f():\n    import gevent\nfrom . import connect\nfrom ..run import load\n"
    names = sorted(name for _, name in imported_names(source, "callproof.harness.verdict"))
    assert names == ["callproof.harness.run", "callproof.harness.verdict", "gevent"]
    assert breaks("gevent", RULES[3][1]) and breaks("callproof.harness.run", RULES[3][1])
    assert breaks("yaml", ("*",)) and not breaks("dataclasses", ("*",)) and not breaks("__future__", ("*",))
