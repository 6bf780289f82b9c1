"""Work-around for a reference-counting bug in PySide6 6.12 on CPython < 3.12.

PySide6 6.12.0 (abi3 wheels) drops one reference to ``None`` after every call of a C++ method
returning ``void`` and one reference to ``True``/``False`` for every bool argument of a signal
delivered to a Python slot. From CPython 3.12 on these objects are immortal and nothing happens;
on 3.11 the counts run down and the process dies with "Fatal Python error: none_dealloc" (or
bool_dealloc) — at the latest when the interpreter shuts down. PySide6 6.11 does not have the bug.

``pin_singletons()`` gives the three singletons a reference count no program can run down
(2**40), which is what CPython 3.12 does by design. It does nothing on other versions. Remove
this module once PySide6 6.12 is excluded or Python 3.12 is the minimum.
"""

from __future__ import annotations

import sys

_PINNED = False
PIN = 1 << 40


def needs_pin() -> bool:
    if sys.implementation.name != "cpython" or sys.version_info >= (3, 12):
        return False
    if hasattr(sys, "getobjects"):  # Py_TRACE_REFS debug build: a different object header
        return False
    import PySide6

    return tuple(PySide6.__version_info__[:2]) == (6, 12)


def pin_singletons() -> bool:
    """Make None, True and False effectively immortal; True when the pin was applied."""
    global _PINNED
    if _PINNED or not needs_pin():
        return _PINNED
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += PIN
    _PINNED = True
    return True
