"""Text from another party (a bundle's file names, a capture's SDP), made safe to print.

A file name may hold an escape sequence or a carriage return that rewrites what a
terminal shows: a crafted name once printed a fake "signature: good ... OK" line over
the real FAIL. Every character that is not printable text (Unicode categories Cc, Cf,
Zl, Zp, Cs, Co, Cn: controls, bidirectional overrides, line separators, the lone
surrogates a non-UTF-8 name decodes to) is written as a Python escape, so what a
person reads is what the bytes say.
"""

from __future__ import annotations

import unicodedata

_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def escape(text: str, *, backslash: bool = True) -> str:
    """`text` with every non-printable character as \\xNN, \\uNNNN or \\UNNNNNNNN.

    backslash=True also doubles each backslash, so an escape shown can only come from
    a character that was there (file names); messages that quote a pattern keep theirs.
    """
    out = []
    for char in text:
        if char == "\\" and backslash:
            out.append("\\\\")
        elif unicodedata.category(char) in _HIDDEN:
            code = ord(char)
            if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as surrogateescape decoded it
                code -= 0xDC00
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    return "".join(out)
