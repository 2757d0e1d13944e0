"""Pausing Python's cycle collector around steps that make millions of short-lived objects."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """No cyclic garbage collection inside. Reading a million stored rows or tidying a million
    payloads allocates millions of tuples, lists and dicts, none in a reference cycle: the collector
    would walk them again and again for nothing (measured: about half of reading the version index,
    about 7% of tidying). The previous state is restored on leaving."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
