"""``trainer.timeout_period``: stop the run when one iteration (with its validation and save) takes too long."""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable

WATCHDOG_OFF = 999_999_999  # trainer.timeout_period's default (upstream's): no per-iteration alarm


class IterationTimeoutError(RuntimeError):
    """An iteration took longer than ``trainer.timeout_period`` seconds (a hung rank, a stalled filesystem)."""


@contextlib.contextmanager
def iteration_watchdog(seconds: int, iteration: Callable[[], int]):
    """While active, the yielded ``arm()`` (re)starts a ``seconds`` alarm; when it fires, :class:`IterationTimeoutError`
    names the iteration. A no-op at upstream's default (``WATCHDOG_OFF`` seconds: no alarm is touched), off the main
    thread, or without ``SIGALRM``."""
    usable = (int(seconds) < WATCHDOG_OFF and hasattr(signal, "SIGALRM")
              and threading.current_thread() is threading.main_thread())

    def fire(signum, frame):
        raise IterationTimeoutError(f"iteration {iteration() + 1} took more than trainer.timeout_period={seconds} s; "
                                    "a rank or the data may be stuck (raise trainer.timeout_period if steps are "
                                    "legitimately this slow)")

    if not usable:
        yield lambda: None
        return
    previous = signal.signal(signal.SIGALRM, fire)
    try:
        yield lambda: signal.alarm(max(1, int(seconds)))
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
