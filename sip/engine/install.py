"""Where the built pjsua2 engine lives in a Python environment, and how it wins over the wheel.

SWIG makes a top-level module (`pjsua2.py` + `_pjsua2*.so`); the PyPI wheel is
a package directory `pjsua2/` in the same site-packages. The built module is
copied into `site-packages/callproof-engine/` (a hyphen, so it is no importable
package itself) and `site-packages/callproof-engine.pth` puts that directory
at the front of `sys.path` when the interpreter starts, so `import pjsua2`
finds the built module first. The wheel stays installed untouched; removing
the two paths brings it back.

`CALLPROOF_ENGINE=wheel` in the environment makes the .pth skip the insertion:
that process and every process it starts load the wheel even while the built
engine is installed (`make test` runs the SIP tests once each way).
"""

from __future__ import annotations

import json
import shutil
import sysconfig
from pathlib import Path
from typing import Any

from callproof.sip.errors import SipConfigError

ENGINE_ENV = "CALLPROOF_ENGINE"  # "wheel": ignore the built engine; "built": tests insist on it
INSTALL_DIR_NAME = "callproof-engine"
MANIFEST_NAME = "engine.json"


def site_dir() -> Path:
    """The running environment's site-packages (a virtualenv's, if active)."""
    return Path(sysconfig.get_paths()["purelib"])


def install_dir(site: Path | None = None) -> Path:
    return (site or site_dir()) / INSTALL_DIR_NAME


def pth_file(site: Path | None = None) -> Path:
    return (site or site_dir()) / f"{INSTALL_DIR_NAME}.pth"


def pth_text(directory: Path) -> str:
    # site.py executes a .pth line that starts with "import"; plain path lines
    # would be appended after site-packages, where the wheel already wins.
    return (
        "# callproof: load the built pjsua2 engine before the wheel (`callproof engine uninstall` removes this).\n"
        f"import os, sys; os.environ.get({ENGINE_ENV!r}) == 'wheel' or sys.path.insert(0, {str(directory)!r})\n"
    )


def is_installed(site: Path | None = None) -> bool:
    return pth_file(site).exists() and (install_dir(site) / MANIFEST_NAME).exists()


def install(engine_dir: Path, site: Path | None = None) -> Path:
    """Copy a built engine (module, shared object, manifest) into site-packages; returns its directory."""
    target = install_dir(site)
    staging = target.with_name(f".{INSTALL_DIR_NAME}.new")
    try:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(engine_dir, staging)
        uninstall(site)
        staging.rename(target)
        pth_file(site).write_text(pth_text(target))
    except PermissionError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SipConfigError(
            f"cannot write to {exc.filename}: run `callproof engine build` in a virtualenv you own, or as its owner"
        ) from exc
    return target


def record_self_check(installed: Path, figures: dict[str, Any]) -> None:
    """Keep the build's self-check figures in the installed manifest, for `callproof engine info`."""
    manifest_path = installed / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["self_check"] = figures
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n")


def uninstall(site: Path | None = None) -> bool:
    """Remove the built engine; returns whether there was one. The wheel is then what loads."""
    found = pth_file(site).exists() or install_dir(site).exists()
    try:
        # The .pth first: without it the directory is never on sys.path.
        pth_file(site).unlink(missing_ok=True)
        if install_dir(site).exists():
            shutil.rmtree(install_dir(site))
    except PermissionError as exc:
        raise SipConfigError(f"cannot remove {exc.filename}: run as the owner of this Python environment") from exc
    return found
