"""The event kernel: ordering, tie-break, lazy cancellation, clock semantics."""

from __future__ import annotations

import pytest

from rainier.fleet.engine import PRIO_LATE, PRIO_URGENT, Kernel


def test_time_then_priority_then_fifo():
    k = Kernel()
    seen = []
    k.schedule(2.0, seen.append, "b")
    k.schedule(1.0, seen.append, "a", priority=PRIO_LATE)
    k.schedule(1.0, seen.append, "urgent", priority=PRIO_URGENT)
    k.schedule(1.0, seen.append, "a2", priority=PRIO_LATE)
    k.run()
    assert seen == ["urgent", "a", "a2", "b"]
    assert k.now_s == 2.0
    assert k.events_processed == 4


def test_lazy_cancel_and_until():
    k = Kernel()
    seen = []
    h = k.schedule(1.0, seen.append, 1)
    k.schedule(3.0, seen.append, 3)
    k.cancel(h)
    assert not k.active(h)
    n = k.run(until_s=2.5)
    assert seen == [] and n == 0 and k.now_s == 2.5
    k.run()
    assert seen == [3]


def test_callbacks_schedule_more_and_never_in_past():
    k = Kernel()
    out = []

    def tick(i):
        out.append((k.now_s, i))
        if i < 3:
            k.schedule(0.5, tick, i + 1)

    k.schedule(0.0, tick, 0)
    k.run()
    assert out == [(0.0, 0), (0.5, 1), (1.0, 2), (1.5, 3)]
    with pytest.raises(ValueError):
        k.schedule(-1.0, tick, 0)


def test_schedule_at_clamps_to_now():
    k = Kernel(start_s=10.0)
    seen = []
    k.schedule_at(5.0, lambda: seen.append(k.now_s))
    k.run()
    assert seen == [10.0]
