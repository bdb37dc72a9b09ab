"""The event kernel: a deterministic discrete-event clock (SimPy's design, cut to the bone).

Concept: pending callbacks sit in a binary heap keyed ``(time_s, priority, seq)``. ``seq`` comes from an
``itertools.count`` owned by the kernel, so two events at the same time and priority run in the order
they were scheduled and the heap never compares callbacks. For speed, priority and sequence share one
integer (``priority << 40 | seq``): one int comparison instead of two, same order. Cancellation is lazy (Mesa's event list):
``cancel`` clears the entry's callback and the loop skips it when it surfaces, so no re-heapify.

Invariants:
- ``now_s`` never decreases; an event is never scheduled in the past (``delay_s >= 0``).
- Same schedule calls in the same order give the same execution order (no wall clock, no hashing).
- All state (clock, counter, heap) belongs to one ``Kernel`` instance; nothing is process-global.

Times are seconds (SI). Lower ``priority`` runs first among simultaneous events.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

__all__ = ["Kernel", "Handle", "PRIO_URGENT", "PRIO_NORMAL", "PRIO_LATE", "PRIO_ACCOUNT"]

PRIO_URGENT = 0   # supply, outages: change the fleet before anything reacts
PRIO_NORMAL = 1   # job ends, failures, repairs, arrivals
PRIO_LATE = 2     # scheduler passes: run after every simultaneous state change
PRIO_ACCOUNT = 3  # hourly accounting: sees the state after everything else at that instant

Handle = list  # [time_s, priority << 40 | seq, callback | None, args]; callback None = cancelled
_PSHIFT = 40  # room for 10^12 events per run before priority bits could be reached


class Kernel:
    """A heap of timed callbacks with a sequence tie-break and lazy cancellation."""

    __slots__ = ("now_s", "_heap", "_seq", "events_processed", "_stopped")

    def __init__(self, start_s: float = 0.0) -> None:
        self.now_s = float(start_s)
        self._heap: list[list[Any]] = []
        self._seq = itertools.count()
        self.events_processed = 0
        self._stopped = False

    def schedule(self, delay_s: float, callback: Callable[..., Any], *args: Any, priority: int = PRIO_NORMAL) -> Handle:
        """Run ``callback(*args)`` after ``delay_s`` seconds; returns a handle for :meth:`cancel`."""
        if delay_s < 0:
            raise ValueError(f"cannot schedule in the past (delay {delay_s} s)")
        entry = [self.now_s + delay_s, (priority << _PSHIFT) | next(self._seq), callback, args]
        heapq.heappush(self._heap, entry)
        return entry

    def schedule_at(self, time_s: float, callback: Callable[..., Any], *args: Any, priority: int = PRIO_NORMAL) -> Handle:
        """Run ``callback(*args)`` at absolute time ``time_s`` (clamped to now if it lies in the past)."""
        t = time_s if time_s > self.now_s else self.now_s
        entry = [t, (priority << _PSHIFT) | next(self._seq), callback, args]
        heapq.heappush(self._heap, entry)
        return entry

    @staticmethod
    def cancel(handle: Handle | None) -> None:
        """Lazy cancellation: the entry stays in the heap and is skipped when popped."""
        if handle is not None:
            handle[2] = None

    @staticmethod
    def active(handle: Handle | None) -> bool:
        return handle is not None and handle[2] is not None

    def peek_s(self) -> float:
        """Time of the next live event, or +inf."""
        heap = self._heap
        while heap and heap[0][2] is None:
            heapq.heappop(heap)
        return heap[0][0] if heap else float("inf")

    def stop(self) -> None:
        self._stopped = True

    def run(self, until_s: float = float("inf")) -> int:
        """Process events with time <= ``until_s``; the clock ends at ``until_s`` (if finite).

        Returns the number of events processed in this call (cancelled entries are not counted).
        """
        heap = self._heap
        pop = heapq.heappop
        n = 0
        self._stopped = False
        while heap:
            entry = pop(heap)
            t = entry[0]
            if t > until_s:
                heapq.heappush(heap, entry)  # not due: put it back (once per run)
                break
            cb = entry[2]
            if cb is None:
                continue
            self.now_s = t
            cb(*entry[3])
            n += 1
            if self._stopped:
                break
        self.events_processed += n
        if until_s != float("inf") and not self._stopped and self.now_s < until_s:
            self.now_s = until_s
        return n
