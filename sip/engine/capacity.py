"""Which pjsua2 is loaded and how many calls one process of it can hold.

The PyPI wheel is compiled with PJSUA_MAX_CALLS = 4 and silently caps
`uaConfig.maxCalls` to it; an engine built by `callproof engine build` holds
far more. pjsua2 does not expose the cap, so read it from the C library:
`pjsua_call_get_max_count()` after `libInit` returns min(maxCalls, compiled cap).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import pjsua2


@functools.cache
def native_library() -> ctypes.CDLL:
    """The loaded _pjsua2 shared object, for C functions pjsua2 does not wrap."""
    module_dir = Path(pjsua2.__file__).resolve().parent
    candidates = sorted(module_dir.glob("_pjsua2*.so")) or sorted(module_dir.parent.glob("_pjsua2*.so"))
    if not candidates:
        raise ImportError(f"no _pjsua2 shared object beside {pjsua2.__file__}")
    return ctypes.CDLL(str(candidates[0]))


def max_calls_in_this_process() -> int:
    """The live per-process call cap (call after `libInit`)."""
    return int(native_library().pjsua_call_get_max_count())


def module_path() -> str:
    return str(Path(pjsua2.__file__).resolve().parent)
