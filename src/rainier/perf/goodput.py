"""Goodput of one synchronous training job: interruptions, checkpoints and restarts.

A synchronous job stops whenever any of its chips or hosts fails. With independent failures at
``r`` per chip-hour (the catalog's economics, Llama 3 405B's 419 unexpected interruptions in 54 days
on 16,384 H100: facts.md §2(c)), ``N`` chips see interruptions as a Poisson process of rate
``lambda = N r``; the mean time to interruption (MTTI) is ``1 / lambda`` (3.1 h at 16k chips, 3 minutes
at a million).

The job alternates compute segments of ``tau`` seconds with checkpoints that stall it ``delta`` seconds.
A failure loses the work since the last durable checkpoint and costs a restart of ``D`` seconds
(reschedule on spare systems, reload the checkpoint, rebuild communicators), during which failures
can strike again. Under these assumptions the expected wall time per segment is exact (Daly 2006,
exponential failures, restart interruptible)::

    E[T](tau) = exp(lambda D) (exp(lambda (tau + delta)) - 1) / lambda

and the goodput (effective training time ratio) is ``tau / E[T]``. For ``lambda (tau + D) << 1`` it
reduces to ``1 - delta / tau - lambda (tau / 2 + D)`` and its best interval to Young's
``sqrt(2 delta / lambda)``. Unlike those first-order forms the exact one stays valid when the MTTI
is comparable to the restart (a million-chip job): goodput tends to zero, as it does in practice
without fault isolation.

Checkpoint costs come from bytes and bandwidths:

- state: the model's parameters x (2 B of bf16 weights + the Adam state, 12 B fp32 or 6 B bf16
  per parameter), the 14-18 B per parameter of facts.md §2(c);
- ``sync``: the job stalls while the whole state is written to storage at the aggregate bandwidth
  (``checkpoint_storage_bytes_per_s_per_chip`` x chips): ``delta = barrier + state / bandwidth``;
- every checkpoint first stops the job for a global barrier and the metadata commit
  (``checkpoint_barrier_s``, seconds: facts.md §2(c)), then:
- ``async`` (the default; Megatron / torch.distributed async checkpointing): the job stalls only
  while each chip copies its share of the state (fully parallel saves spread the replicas' copies:
  ``state / chips``) to host memory (``checkpoint_host_copy_bytes_per_s``); the write to storage
  (``W = state / bandwidth``) proceeds in the background. A checkpoint counts
  only once written, so a failure loses ``W`` more on average: added to the restart. The interval
  is at least ``W``.
- restart ``D = job_restart_s + state / bandwidth`` (+ ``W`` when async).

The interval is the one that maximises goodput unless one is given. Not modelled: hot-spare
shortage (the job waits for repair), planned maintenance, failures that slow rather than stop
the job (stragglers), elastic or in-memory recovery that skips the restart, per-chip-kind failure
rates (no published rate but Meta's H100 and A100 figures; every kind takes the catalog's one).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from scipy.special import lambertw

from rainier.catalog.schema import Economics
from rainier.errors import RainierError
from rainier.units import fmt_duration

__all__ = ["Resilience", "Goodput", "goodput", "expected_segment_s", "best_interval_s", "checkpoint_state_bytes",
           "CheckpointCost", "checkpoint_cost", "optimal_interval_s"]

_MODES = ("async", "sync")


@dataclass(frozen=True)
class Resilience:
    """How a job survives failures; None fields take the catalog's economics defaults."""

    checkpoint: str = "async"               # "async" (stall for the host copy only) or "sync" (stall for the write)
    interval_s: float | None = None         # checkpoint interval; None = the goodput-optimal one
    failure_scale: float = 1.0              # multiplies the interruption rate (0: no failures)
    restart_s: float | None = None          # detect, reschedule, reinitialise (the checkpoint read is added)
    storage_bytes_per_s: float | None = None  # aggregate checkpoint bandwidth of the job; None = per chip x chips

    def check(self) -> None:
        if self.checkpoint not in _MODES:
            raise RainierError(f"unknown checkpoint mode '{self.checkpoint}'", field="--checkpoint",
                               fix="use async (stall for the copy to host memory) or sync (stall for the write)")
        for field, v, zero_ok, fix in (
                ("--checkpoint-interval", self.interval_s, False,
                 "e.g. --checkpoint-interval 30min, or omit it for the goodput-optimal interval"),
                ("--restart-time", self.restart_s, True, "e.g. --restart-time 10min"),
                ("--checkpoint-bandwidth", self.storage_bytes_per_s, False, "e.g. --checkpoint-bandwidth 2TB/s")):
            if v is not None and not ((v >= 0 if zero_ok else v > 0) and math.isfinite(v)):
                raise RainierError(f"must be a {'non-negative' if zero_ok else 'positive'}, finite figure (got {v!r})",
                                   field=field, fix=fix)
        if not 0.0 <= self.failure_scale <= 1e6:
            raise RainierError(f"must be a number from 0 to 1e6 (got {self.failure_scale!r})", field="--failure-scale",
                               fix="e.g. --failure-scale 2 for twice the catalog's interruption rate, 0 for none")


@dataclass(frozen=True)
class Goodput:
    """The failure-adjusted view of one training job (what ``rainier train --json`` prints as ``goodput``)."""

    fraction: float                 # expected productive time / wall time (ETTR)
    interruptions_per_day: float
    mtti_hours: float | None        # None without failures
    checkpoint: str
    checkpoint_gb: float            # the job's whole training state
    checkpoint_stall_s: float       # the job stops this long per checkpoint
    checkpoint_write_s: float       # state / storage bandwidth (the stall when sync)
    checkpoint_interval_s: float | None  # None: no failures, no checkpoints needed
    interval_optimal: bool
    checkpoints: int | None         # over the run (with tokens), None for an endless job
    restart_s: float                # per interruption: restart + checkpoint read (+ the unwritten lag when async)
    storage_gb_per_s: float
    # with tokens: the time, energy and money to train including the losses (None otherwise)
    time_to_train_days: float | None = None
    expected_interruptions: float | None = None
    energy_mwh: float | None = None
    cost_usd: float | None = None
    cloud_cost_usd: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def checkpoint_state_bytes(params: float, optimizer_bytes: float) -> float:
    """The job's whole training state: bf16 weights (2 B) + Adam state (master and moments) per parameter."""
    return params * (2.0 + optimizer_bytes)


def _log_segment(work: float, delta: float, restart: float, lam: float) -> float:
    """log E[T]: ``E = exp(lam D) (exp(lam a) - 1) / lam`` with ``a = work + delta``, written as
    ``exp(lam D) a expm1(x) / x`` (``x = lam a``) so that rare failures (x -> 0) and none (lam = 0: E = a) stay
    exact, and in logs because E overflows a float long before a goodput underflows."""
    a = work + delta
    x = lam * a
    if x < 1e-8:
        log_ratio = x / 2.0  # log(expm1(x) / x) = x/2 + O(x^2)
    elif x < 30.0:
        log_ratio = math.log(math.expm1(x) / x)
    else:
        log_ratio = x + math.log1p(-math.exp(-x)) - math.log(x)
    return lam * restart + math.log(a) + log_ratio


def expected_segment_s(tau: float, delta: float, restart: float, lam: float) -> float:
    """Expected wall seconds to finish ``tau`` of work and its ``delta`` checkpoint under Poisson failures of
    rate ``lam`` per second, each costing ``restart`` (interruptible) plus the segment's lost work."""
    x = _log_segment(tau, delta, restart, lam)
    return math.exp(x) if x < 700.0 else math.inf


def _log_job(work: float, tau: float, delta: float, restart: float, lam: float) -> tuple[float, int]:
    """log expected wall time of ``work`` seconds split into segments of ``tau``: every segment but the last
    followed by a checkpoint, the last (the remainder) not; and the number of checkpoints."""
    k = max(1, math.ceil(work / tau - 1e-9))
    last = min(tau, max(work - (k - 1) * tau, 1e-12 * tau))  # rounding of astronomically long jobs: never <= 0
    tail = _log_segment(last, 0.0, restart, lam)
    if k == 1:
        return tail, 0
    full = math.log(k - 1) + _log_segment(tau, delta, restart, lam)
    hi, lo = max(full, tail), min(full, tail)
    return hi + math.log1p(math.exp(lo - hi)), k - 1


def best_interval_s(delta: float, lam: float) -> float:
    """The ``tau`` maximising ``tau / E[T](tau)``: the restart factor does not depend on ``tau``, so the optimum
    solves ``1 - exp(-lam (tau + delta)) = lam tau``, i.e. ``lam tau = 1 + W0(-exp(-1 - lam delta))`` (Lambert W);
    Young's ``sqrt(2 delta / lam)`` for ``lam delta << 1``."""
    c = lam * delta
    if c < 1e-8:  # W0 near its branch point loses digits: its series, lam tau = sqrt(2c) - 2c/3 + O(c^1.5)
        return (math.sqrt(2.0 * c) - 2.0 * c / 3.0) / lam
    return float((1.0 + lambertw(-math.exp(-1.0 - c)).real) / lam)


@dataclass(frozen=True)
class CheckpointCost:
    """What checkpoints cost a job (see the module docstring): its stall per checkpoint, the write to storage,
    the restart per interruption (restart + read back, + the write under way when async) and the shortest
    interval (async: the write must end before the next checkpoint)."""

    stall_s: float
    write_s: float
    restart_s: float
    floor_s: float
    storage_bytes_per_s: float


def checkpoint_cost(chips: int, state_bytes: float, econ: Economics, res: Resilience | None = None) -> CheckpointCost:
    res = res or Resilience()
    bw = res.storage_bytes_per_s or econ.checkpoint_storage_bytes_per_s_per_chip * chips
    write = state_bytes / bw
    restart = (econ.job_restart_s if res.restart_s is None else res.restart_s) + write  # reload from storage
    if res.checkpoint == "sync":
        return CheckpointCost(econ.checkpoint_barrier_s + write, write, restart, 0.0, bw)
    stall = econ.checkpoint_barrier_s + state_bytes / chips / econ.checkpoint_host_copy_bytes_per_s
    # a checkpoint still being written is not one: ~W more work lost per failure
    return CheckpointCost(stall, write, restart + write, write, bw)


def optimal_interval_s(cc: CheckpointCost, lam: float) -> float:
    """The goodput-optimal interval of an endless job, at least the write floor (the fraction is unimodal in
    the interval, so the constrained optimum is the clamp); inf without failures."""
    return max(best_interval_s(cc.stall_s, lam), cc.floor_s, 1e-3) if lam > 0.0 else math.inf


def goodput(*, chips: int, state_bytes: float, econ: Economics, res: Resilience | None = None,
            work_s: float | None = None) -> Goodput:
    """Goodput of a synchronous job on ``chips`` chips whose whole training state is ``state_bytes``
    (:func:`checkpoint_state_bytes`). ``work_s``: the job's failure-free length; without it, the steady state
    of an endless job. A finite job needs no checkpoint after its last segment and none at all when it is
    shorter than the interval; its best checkpoints split the work evenly."""
    res = res or Resilience()
    res.check()
    lam = chips * econ.interruptions_per_chip_hour * res.failure_scale / 3600.0
    if lam < 1e-30:
        lam = 0.0  # one interruption in ~1e22 years: none (and 1 / lam would overflow)
    cc = checkpoint_cost(chips, state_bytes, econ, res)
    stall, restart, floor = cc.stall_s, cc.restart_s, cc.floor_s
    if res.interval_s is not None and res.interval_s < floor and (work_s is None or res.interval_s < work_s):
        raise RainierError(f"a {fmt_duration(res.interval_s)} interval is shorter than the {fmt_duration(floor)} an "
                           "asynchronous checkpoint takes to write", field="--checkpoint-interval",
                           fix=f"give at least {fmt_duration(floor)}, more --checkpoint-bandwidth, or --checkpoint sync")
    star = optimal_interval_s(cc, lam)
    checkpoints: int | None = None
    if work_s is None:
        tau = res.interval_s if res.interval_s is not None else star
        frac = 1.0 if math.isinf(tau) else math.exp(math.log(tau) - _log_segment(tau, stall, restart, lam))
    else:
        if res.interval_s is not None:
            tau = res.interval_s
        else:
            # equal segments are best for a given count; the count near work / (the endless job's best interval)
            k_star = work_s / star
            ks = {1} | ({max(1, math.floor(k_star)), max(1, math.ceil(k_star))} if math.isfinite(k_star) else set())
            ks = {k for k in ks if k == 1 or work_s / k >= floor}
            k = min(ks, key=lambda k: _log_job(work_s, work_s / k, stall, restart, lam)[0])
            tau = work_s / k
        log_t, checkpoints = _log_job(work_s, tau, stall, restart, lam)
        frac = math.exp(math.log(work_s) - log_t)
        if checkpoints == 0 and res.interval_s is None:
            tau = math.inf  # shorter than its best interval: no checkpoint at all
    frac = min(1.0, frac)
    if frac < 1e-12:
        frac = 0.0  # no progress in practice (and 1 / goodput would overflow the times)
    return Goodput(
        fraction=frac, interruptions_per_day=lam * 86400.0, mtti_hours=1.0 / lam / 3600.0 if lam > 0 else None,
        checkpoint=res.checkpoint, checkpoint_gb=state_bytes / 1e9, checkpoint_stall_s=stall,
        checkpoint_write_s=cc.write_s, checkpoint_interval_s=None if math.isinf(tau) else tau,
        interval_optimal=res.interval_s is None, restart_s=restart, storage_gb_per_s=cc.storage_bytes_per_s / 1e9,
        checkpoints=checkpoints)
