"""Pluggable fleet policies: schedulers (registered by name), failures, supply and power models.

Schedulers: ``fifo``, ``priority`` (with preemption), ``fair-share`` (commitment-based, borrowing and
reclaim), ``easy-backfill``. Importing this package registers them.
"""

from __future__ import annotations

from rainier.fleet.policies import backfill as _backfill  # noqa: F401  (registers)
from rainier.fleet.policies import fairshare as _fairshare  # noqa: F401
from rainier.fleet.policies import fifo as _fifo  # noqa: F401
from rainier.fleet.policies import priority as _priority  # noqa: F401
from rainier.fleet.policies.base import (
    Decision,
    FleetView,
    Preempt,
    Scheduler,
    Start,
    make_scheduler,
    register_scheduler,
    scheduler_names,
)

__all__ = ["Decision", "FleetView", "Preempt", "Scheduler", "Start", "make_scheduler", "register_scheduler",
           "scheduler_names"]
