"""Request-level discrete-event simulation of one serving deployment.

A deployment is ``R`` identical replicas behind a router. Requests are routed round-robin in arrival
order (Vidur's default; with identical replicas and Poisson traffic it balances counts). Each replica
runs iteration-level continuous batching (Orca, Yu et al. OSDI'22) with chunked prefill
(Sarathi-Serve, Agrawal et al. OSDI'24):

* at every iteration boundary, waiting requests are admitted first-come first-served while a batch
  slot is free (``slots`` = the max batch) and the KV cache has room. With the default ``paged`` policy
  (vLLM's PagedAttention, TensorRT-LLM's paged cache with in-flight batching) a request holds the KV of
  the tokens it has so far: admission needs room for its prompt below a watermark (5% of the cache
  kept free for the decodes' growth), and each decode step adds one token per request. The
  ``reserve`` policy holds ``input + output`` from admission (TensorRT-LLM's "guaranteed no evict"
  with the lengths known), so no request is ever preempted;
* the iteration carries one token for every decoding request, and the rest of the ``token_budget``
  goes to prefill chunks of the admitted requests in FCFS order (only the oldest can be partial);
* a request's prefill finishing produces its first token at the end of that iteration (TTFT); each
  later iteration produces one more; the request leaves when its output is complete and frees its KV;
* the iteration's duration comes from :meth:`rainier.perf.inference.StepModel.step_time_s` on the
  batch's aggregates (tokens, sequences, summed decode context, prefill attention work).

The events are the iteration boundaries. All replicas advance in lock-step *iterations* (each with its
own clock), so one numpy operation updates every replica and every request slot at once: the work is
``O(iterations x replicas x slots)`` vector operations and a million requests take seconds.

Traffic: open loop (arrival times given: Poisson, offline, trace) or closed loop (``concurrency`` C:
C requests in flight, a new one arriving as each finishes). Disaggregated serving (Splitwise, Patel et
al. ISCA'24; DistServe, Zhong et al. OSDI'24): a prefill pool produces the first token, the KV cache
crosses the scale-out network (bytes / (chips x NIC bandwidth) + latency), then a decode pool runs
the remaining tokens.

Rates: offline runs report the steady middle of the run (ramp-up and drain excluded, as MLPerf
Offline's tens of thousands of samples make them negligible); open-loop runs report what is produced
while requests arrive, after one request lifetime of warm-up. The MLPerf Server search bisects the
Poisson rate on one random stream scaled in time, judging p99 TTFT/TPOT after the first quarter of
arrivals; the stream spans about ten request lifetimes (``inference.SERVER_LIFETIMES``), since an
overloaded deployment's batch and TPOT keep growing for several lifetimes before its queue shows (a
one-minute run passed Llama-2-70B / 4 H100 at 1.35x the rate a long run sustains). Limits: the paged policy does not preempt (a cache over-committed past the watermark is reported in
the notes), routing is round-robin, and the MoE router is assumed uniform. Why paging matters: the
in-flight population is length-biased (long requests stay longer), so reserving ``input + output``
holds far more KV per request than the tokens it has; on Llama-2-70B / 8 H100 (TP 2) it capped the
batch near 440 where MLPerf Server's measured TPOT at 75 qps implies about 850.

Invariants checked by the tests: every request finishes exactly once; output tokens = sum of output
lengths; Little's law ``L = lambda W`` between the time-averaged number in the system (measured from
the simulator's state) and the mean latency; the same seed gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rainier.catalog.schema import System
from rainier.errors import RainierError
from rainier.perf.speculative import decode_steps, gain_and_tokens
from rainier.perf.workload import Requests
from rainier.units import plural

KV_POLICIES = ("paged", "reserve")
# An offline run's steady window must span this many request lifetimes (SimResult.saturated_window)
STEADY_LIFETIMES = 3.0
# An SLO search judges the p99s over the requests arriving after this share of the arrivals: a finite run starts
# empty (SimResult.judged)
SLO_WARMUP_SHARE = 0.25

__all__ = ["KV_POLICIES", "Pool", "SimResult", "simulate", "simulate_deployment", "max_qps_under_slo", "run_meets_slo",
           "slo_met", "SloMissed", "subset"]


@dataclass(frozen=True)
class Pool:
    """Replicas of one configuration: the step model, how many, and each replica's batch limits."""

    step: Any  # rainier.perf.inference.StepModel
    replicas: int
    slots: int
    token_budget: int
    kv_capacity_tokens: int
    kv_policy: str = "paged"
    kv_watermark: float = 0.05
    spec: Any = None  # rainier.perf.speculative.SpecStep: speculative decoding, or None


    def __post_init__(self) -> None:
        if self.kv_policy not in KV_POLICIES:
            raise RainierError(f"unknown KV policy '{self.kv_policy}'", field="--kv-policy",
                               fix=f"use one of {', '.join(KV_POLICIES)}")
        if not 0.0 <= self.kv_watermark < 1.0:
            raise RainierError(f"KV watermark must lie in [0, 1) (got {self.kv_watermark})", field="kv_watermark")
        if self.replicas < 1:
            raise RainierError(f"need at least one replica (got {self.replicas})", field="--replicas")
        if self.slots < 1:
            raise RainierError(f"max batch must be at least 1 (got {self.slots})", field="--max-batch")
        if self.kv_capacity_tokens < 1:
            raise RainierError("the KV cache has no room", field="kv_capacity_tokens")

    @property
    def chips_per_replica(self) -> int:
        return int(self.step.tp * self.step.pp)

    @property
    def gain(self) -> float:
        """Output tokens a decoding request gains per iteration (1 without speculative decoding)."""
        return gain_and_tokens(self.spec)[0]

    @property
    def draft_tokens(self) -> int:
        return gain_and_tokens(self.spec)[1]

    @property
    def c_kv(self) -> float:
        return float(self.step.c_kv if self.spec is None else self.spec.c_kv)

    @property
    def c_attn(self) -> float:
        return float(self.step.c_attn if self.spec is None else self.spec.c_attn)

    def base_s(self, ndec: np.ndarray, tok_pf: np.ndarray, nseq_pf: np.ndarray, units: np.ndarray,
               max_chunk: np.ndarray | None = None, max_units: np.ndarray | None = None) -> np.ndarray:
        """Seconds of one iteration of ``ndec`` decodes and a prefill of ``tok_pf`` tokens over ``nseq_pf``
        requests, less the decode-context term (``c_kv`` x summed context x :meth:`StepModel.dp_ctx_factor`); with data-parallel
        attention, plus the busiest group's prefill beyond the balanced share (:meth:`StepModel.dp_imbalance_s`;
        ``max_chunk`` / ``max_units``: the step's largest chunk and its attention work)."""
        if self.spec is None:
            t = self.step.fast_step_s((ndec + tok_pf).astype(float), (ndec + nseq_pf).astype(float), units)
        else:
            t = self.spec.base_s(ndec, tok_pf, nseq_pf, units)
        if self.step.adp > 1:
            t = t + self.step.dp_imbalance_s(ndec * (self.draft_tokens + 1), tok_pf, nseq_pf, units, max_chunk,
                                             max_units) * (tok_pf > 0)
        return t


@dataclass
class SimResult:
    """Per-request times and time-weighted state of one simulation."""

    arrival_s: np.ndarray
    input_len: np.ndarray
    output_len: np.ndarray
    first_token_s: np.ndarray
    finish_s: np.ndarray
    replica: np.ndarray
    busy_time_s: float
    area_in_system: float
    area_waiting: float
    area_batch: float
    max_waiting: int
    iterations: int
    horizon_s: float
    notes: list[str] = field(default_factory=list)
    steps: int = 0

    @property
    def ttft(self) -> np.ndarray:
        return self.first_token_s - self.arrival_s

    @property
    def e2e(self) -> np.ndarray:
        return self.finish_s - self.arrival_s

    @property
    def tpot(self) -> np.ndarray:
        m = self.output_len > 1
        return (self.finish_s[m] - self.first_token_s[m]) / (self.output_len[m] - 1)

    @property
    def span_s(self) -> float:
        if len(self.finish_s) == 0:
            return 0.0
        return float(np.max(self.finish_s) - np.min(self.arrival_s))

    @property
    def output_tokens(self) -> int:
        return int(self.output_len.sum())

    @property
    def output_tokens_per_s(self) -> float:
        s = self.span_s
        return self.output_tokens / s if s > 0 else 0.0

    @property
    def total_tokens_per_s(self) -> float:
        s = self.span_s
        return float(self.output_len.sum() + self.input_len.sum()) / s if s > 0 else 0.0

    @property
    def requests_per_s(self) -> float:
        s = self.span_s
        return len(self.arrival_s) / s if s > 0 else 0.0

    def window_rates(self, t0: float, t1: float) -> tuple[float, float, float]:
        """(output tok/s, total tok/s, requests/s) produced inside [t0, t1].

        A request's ``j``-th output token is produced at ``first + (j - 1) * TPOT`` (its own mean TPOT);
        its input tokens count when its first token appears. Requests/s is the output rate over the mean output
        length (requests' worth of tokens produced): counting the requests that finish inside the window would
        give 0 whenever requests live longer than the window while tokens flow.
        """
        span = t1 - t0
        if span <= 0:
            return self.output_tokens_per_s, self.total_tokens_per_s, self.requests_per_s
        y = self.output_len.astype(float)
        tpot = np.where(y > 1, (self.finish_s - self.first_token_s) / np.maximum(y - 1, 1), 1.0)

        def produced(t: float) -> np.ndarray:
            k = 1.0 + (t - self.first_token_s) / np.maximum(tpot, 1e-12)
            return np.where(self.first_token_s <= t, np.minimum(np.floor(k), y), 0.0)

        out = float((produced(t1) - produced(t0)).sum())
        pre = (self.first_token_s > t0) & (self.first_token_s <= t1)
        tot = out + float(self.input_len[pre].sum())
        mean_out = float(y.mean()) if len(y) else 0.0
        return out / span, tot / span, (out / span / mean_out if mean_out > 0 else 0.0)

    def arrival_window_rates(self) -> tuple[float, float, float]:
        """Rates while requests arrive (open-loop traffic): excludes the drain after the last arrival.

        At a rate the deployment sustains this is the offered load, as MLPerf Server reports it; when
        overloaded it is what the deployment manages to produce.
        """
        if len(self.arrival_s) < 8:
            return self.output_tokens_per_s, self.total_tokens_per_s, self.requests_per_s
        t0, t1 = float(self.arrival_s.min()), float(self.arrival_s.max())
        warm = float(np.median(self.e2e))  # skip the ramp-up: about one request lifetime
        if t1 - t0 < warm:
            # the arrivals came in a burst shorter than a request's lifetime (a rate far beyond what the
            # deployment serves): the window would see the ramp-up only; what it produces is its saturated rate
            return self.saturated_rates()
        if t1 - (t0 + warm) > 0.3 * (t1 - t0):
            t0 += warm
        return self.window_rates(t0, t1)

    def saturated_window(self) -> tuple[float, float] | None:
        """The steady middle of an offline run, or None where the run has none long enough to measure.

        The window runs from the time a quarter of the requests have finished to ``t_a``, the earliest of the
        replicas' last first-token times (after it some replica has no queue left). It must span at least
        ``STEADY_LIFETIMES`` request lifetimes (the median time from first token to finish): the batch turns
        over in waves about a lifetime apart (all at once with equal output lengths), and a window shorter than a
        few of them measures the phase of a wave, not the rate (2,000 requests on 8 H100 gave 1.9x the rate of a
        long run that way).
        """
        if len(self.arrival_s) < 8:
            return None
        t_a = min(float(self.first_token_s[self.replica == r].max()) for r in np.unique(self.replica))
        t_s = float(np.quantile(self.finish_s, 0.25))
        life = float(np.median(self.finish_s - self.first_token_s))
        if t_a - t_s <= 0 or t_a - t_s < STEADY_LIFETIMES * life:
            return None
        return t_s, t_a

    def saturated_rates(self) -> tuple[float, float, float]:
        """Rates in the steady middle of an offline run (:meth:`saturated_window`).

        A finite offline run ramps up (prefill-heavy, few output tokens) and drains (the longest requests
        run on in small batches); MLPerf Offline runs tens of thousands of samples, so neither matters
        there. Falls back to the whole run, ramp-up and drain included, when there is no steady window (one
        static batch, or too few requests for several turnovers of the batch).
        """
        w = self.saturated_window()
        if w is None:
            return self.output_tokens_per_s, self.total_tokens_per_s, self.requests_per_s
        return self.window_rates(*w)

    @property
    def mean_batch(self) -> float:
        return self.area_batch / self.busy_time_s if self.busy_time_s > 0 else 0.0

    def judged(self) -> np.ndarray:
        """Mask of the requests an SLO search judges (:func:`judged_requests`)."""
        return judged_requests(self.arrival_s)

    def pct(self, what: str, qs: tuple[int, ...], mask: np.ndarray | None = None) -> dict[str, float | None]:
        """Percentiles (and the mean) of ``what``; None where no request has one (TPOT of one-token outputs).
        ``mask`` (one flag a request) keeps a subset of the requests."""
        x = getattr(self, what)
        if mask is not None:
            x = x[mask[self.output_len > 1]] if what == "tpot" else x[mask]
        out: dict[str, float | None] = dict.fromkeys([*(f"p{q}" for q in qs), "mean"])
        if len(x):
            out.update({f"p{q}": float(y) for q, y in zip(qs, np.percentile(x, qs), strict=True)})
            out["mean"] = float(np.mean(x))
        return out

    def slo_attainment(self, slo_ttft_s: float | None, slo_tpot_s: float | None,
                       mask: np.ndarray | None = None) -> tuple[float, float]:
        """Fraction of requests meeting both SLOs, and the share of the output tokens that are theirs (goodput is
        that share of the throughput, measured over the throughput's own window); over ``mask``'s requests
        where given."""
        ok = np.ones(len(self.arrival_s), dtype=bool)
        if slo_ttft_s is not None:
            ok &= self.ttft <= slo_ttft_s
        if slo_tpot_s is not None:
            m = self.output_len > 1
            tp = np.zeros(len(ok))
            tp[m] = self.tpot
            ok &= tp <= slo_tpot_s
        y = self.output_len
        if mask is not None:
            ok, y = ok[mask], y[mask]
        total = float(y.sum())
        return (float(ok.mean()) if len(ok) else 0.0), (float(y[ok].sum()) / total if total > 0 else 0.0)

    def queue_stats(self) -> dict[str, float]:
        h = self.horizon_s
        return {
            "mean_in_system": self.area_in_system / h if h > 0 else 0.0,
            "mean_waiting": self.area_waiting / h if h > 0 else 0.0,
            "max_waiting": float(self.max_waiting),
            "mean_batch": self.mean_batch,
            "events": float(self.iterations),
            "iterations": float(self.steps),
        }


def judged_requests(arrival_s: np.ndarray) -> np.ndarray:
    """Mask of the requests an SLO search judges: those arriving after the first ``SLO_WARMUP_SHARE`` of the
    arrivals (a finite run starts empty; its first requests meet a lighter load than the rate's)."""
    if len(arrival_s) == 0:
        return np.ones(0, dtype=bool)
    return np.asarray(arrival_s >= np.quantile(arrival_s, SLO_WARMUP_SHARE))


def subset(reqs: Requests, n: int) -> Requests:
    return Requests(reqs.arrival_s[:n], reqs.input_len[:n], reqs.output_len[:n])


def simulate(pool: Pool, arrival_s: np.ndarray, prefill_len: np.ndarray, context0: np.ndarray,
             output_len: np.ndarray, *, concurrency: int | None = None, fast_forward: bool = True,
             kv_shared: np.ndarray | None = None, kv_store: int = 0, cascade: bool = False,
             give_up: tuple[float | None, float | None] | None = None) -> SimResult:
    """Run one pool on requests given as arrays (see the module docstring for the policy).

    ``prefill_len`` tokens are computed before the first token (0 for requests whose KV arrives from a
    prefill pool); ``context0`` is the context the first decode attends to; ``output_len`` >= 1. A prompt
    whose first ``context0 - prefill_len`` tokens are in the prefix cache computes only the rest, and its
    chunks attend to the cached tokens as well.
    With speculative decoding (``pool.spec``) a decoding request gains ``pool.gain`` tokens per iteration,
    so it decodes in ``ceil((output_len - 1) / gain)`` iterations; its context and KV grow by ``gain`` per
    iteration, and admission holds room for the ``k`` proposals.
    A shared prefix (a system prompt every request starts with) is held once per replica: ``kv_store`` tokens
    of the cache are taken by it, and request ``i`` holds ``context - kv_shared[i]`` tokens of its own
    (its attention still reads the whole context, unless ``cascade``: the decodes then read the prefix once per
    iteration, and each request's attention costs its own tokens plus the prefix's at the prefill kernel's rate:
    :func:`rainier.perf.inference.cascade_terms`).

    ``fast_forward`` runs a stretch of identical-shaped iterations as one event where nothing but time
    changes the batch: a row of decodes only (until a decode finishes or a request arrives), and a row
    whose oldest prompt takes the whole token budget in chunks (until that prompt's last chunk fits, a
    decode finishes or a request arrives). The step time is linear in the decode context and the prefill
    attention work, which grow by a fixed amount per iteration, so the stretch's time is closed form and
    the result equals the iteration-by-iteration run (``fast_forward=False``, kept for that test).

    ``give_up`` = (TTFT, TPOT) targets of an SLO search (open-loop traffic): the run raises :class:`SloMissed` as
    soon as enough of the judged requests (:meth:`SimResult.judged`) are sure to miss a target that its p99 must
    miss it, whatever the rest of the run does (a request still waiting has a TTFT of at least its wait so far;
    one still decoding a TPOT of at least its time since its first token over its tokens to come).
    """
    arr = np.asarray(arrival_s, dtype=float)
    n = len(arr)
    if n == 0:
        raise RainierError("no requests to simulate", field="--requests", fix="give --requests 1 or more")
    if n > 1 and np.any(np.diff(arr) < 0):
        raise RainierError("requests must be sorted by arrival time", field="requests")
    pin = np.asarray(prefill_len, dtype=np.int64)
    c0 = np.asarray(context0, dtype=np.int64)
    nout = np.maximum(np.asarray(output_len, dtype=np.int64), 1)
    g = pool.gain
    dsteps = decode_steps(nout, g)  # decode iterations after the first token
    grown = dsteps * g  # context and KV a request gains over them (nout - 1 without speculation)
    off0 = np.maximum(c0 - pin, 0)  # prefix-cached tokens the prefill attends to
    R, S, B = pool.replicas, pool.slots, max(pool.token_budget, pool.slots)
    # the cache left to the requests' own tokens (the prefix is held once per attention group: per replica, or per
    # data-parallel attention group)
    KV = KV_own = pool.kv_capacity_tokens - int(kv_store) * pool.step.adp
    if KV < 1:
        raise RainierError(f"a shared prefix of {int(kv_store):,} tokens fills the {pool.kv_capacity_tokens:,}-token "
                           "KV cache of a replica", field="--shared-prefix",
                           fix="give a shorter --shared-prefix, or more chips per replica (--tp)")
    kv0 = c0 if kv_shared is None else c0 - np.asarray(kv_shared, dtype=np.int64)  # a request's own KV
    ca0: np.ndarray = c0  # the context a request's decode attention costs (its own + the prefix's share)
    once = 0.0  # seconds per iteration with decodes: the cascade kernel's one read of the prefix
    if cascade and kv_shared is not None and kv_store > 0:
        if pool.spec is not None:
            raise RainierError("cascade attention with speculative decoding is not modelled",
                               field="--prefix-attention", fix="drop --prefix-attention cascade or --draft")
        from rainier.perf.inference import cascade_terms

        cut, once = cascade_terms(pool.step, kv_store)
        ca0 = c0 - np.asarray(kv_shared, dtype=float) * cut
    notes: list[str] = []
    paged = pool.kv_policy == "paged"
    adp = pool.step.adp  # with data-parallel attention a request lives on one group: its room is the group's
    room = KV if adp == 1 else pool.kv_capacity_tokens // adp - int(kv_store)
    over = kv0 + nout + pool.draft_tokens > room
    if over.any():
        beside = f" beside the {int(kv_store):,}-token shared prefix" if kv_store else ""
        holder = "a replica" if adp == 1 else "an attention group"
        notes.append(f"{plural(int(over.sum()), 'request')} need more KV cache than {holder} has{beside} ({room} "
                     "tokens); they run alone with their reservation capped"
                     + ("" if adp == 1 else " (at the replica's pooled cache: optimistic)"))
    if paged:
        # Admission holds the prompt (and the first token); decodes add one token per step; the limit
        # keeps a watermark free for that growth (no preemption is modelled: overshoot is reported).
        KV = max(1, int(KV * (1.0 - pool.kv_watermark)))
        need = np.minimum(kv0 + 1 + pool.draft_tokens, KV)
        release = need + grown
    else:
        need = np.minimum(kv0 + nout + pool.draft_tokens, KV)
        release = need.astype(float)
    # Per-request lookups (index n is a dummy for padding).
    need_x = np.append(release, 0.0)
    fctx_x = np.append(ca0 + 1 + grown, 0).astype(float)  # context when the request leaves

    closed = concurrency is not None
    conc = int(concurrency) if concurrency is not None else 0
    if closed and conc < R:  # clients stick to replicas: fewer clients than replicas idle some
        notes.append(f"concurrency {conc} below the {R} replicas: {plural(R - conc, 'replica')} idle")
        R = conc
    if R > n:  # round-robin gives replica i request i: the rest idle, and add nothing to any figure
        notes.append(f"{R - n:,} of the {R:,} replicas get no request")
        R = n
    # Round-robin routing: request i -> replica i % R, position i // R in that replica's queue.
    rep = np.arange(n) % R
    qpos = np.arange(n) // R
    nmax = int(qpos.max()) + 1
    INF = np.inf
    A = np.full((R, nmax + 1), INF)
    PIN = np.zeros((R, nmax + 1), dtype=np.int64)
    C0 = np.zeros((R, nmax + 1), dtype=ca0.dtype)
    NOUT = np.ones((R, nmax + 1), dtype=np.int64)
    DST = np.zeros((R, nmax + 1), dtype=np.int64)
    OFF = np.zeros((R, nmax + 1), dtype=np.int64)
    NEED = np.zeros((R, nmax + 1), dtype=np.int64)
    RID = np.full((R, nmax + 1), n, dtype=np.int64)
    A[rep, qpos], PIN[rep, qpos], C0[rep, qpos] = arr, pin, ca0
    NOUT[rep, qpos], NEED[rep, qpos], RID[rep, qpos] = nout, need, np.arange(n)
    DST[rep, qpos], OFF[rep, qpos] = dsteps, off0
    counts = np.bincount(rep, minlength=R)

    if closed:
        c_r = np.full(R, conc // R) + (np.arange(R) < conc % R)
        c_r = np.minimum(c_r, counts)
        A[:] = INF
        A[np.arange(nmax + 1)[None, :] < c_r[:, None]] = 0.0
        nrel = c_r.copy()
    else:
        # For the time-averaged number in system: per-replica arrival counts by one flat searchsorted.
        hmax = float(arr.max()) + 1.0
        off = np.arange(R, dtype=float) * (hmax + 1.0) * 2.0
        flat = (np.where(np.isfinite(A), A, hmax + 0.5) + off[:, None]).ravel()

    first = np.full(n + 1, np.nan)
    fin = np.full(n + 1, np.nan)
    t = np.zeros(R)
    adm = np.zeros(R, dtype=np.int64)  # admitted (queue positions < adm)
    pf = np.zeros(R, dtype=np.int64)  # first position whose prefill is not complete
    pfd = np.zeros(R, dtype=np.int64)  # prefill tokens already done for position pf
    kvu = np.zeros(R)  # KV tokens reserved (reserve) or held (paged); whole numbers without speculation
    kv_peak = 0.0
    ndec = np.zeros(R, dtype=np.int64)  # decoding requests
    nfin = np.zeros(R, dtype=np.int64)
    ctx = np.zeros(R)  # summed context of the decoding requests
    BIG = np.int32(1 << 30)  # empty-slot sentinel of s_left (decays by the steps taken, stays huge)
    width = int(min(S, 64))  # slot arrays grow on demand up to S
    s_rid = np.full((R, width), n, dtype=np.int32)
    s_left = np.full((R, width), BIG, dtype=np.int32)
    rr = np.arange(R)
    rows = rr[:, None]
    Wa = int(min(S, 128))
    min_in = int(max(1, np.percentile(pin, 5))) if pin.max() > 0 else 1
    Wp_max = int(min(S, 128, max(8, B // min_in + 2)))
    jA = np.arange(Wa)
    jP = np.arange(Wp_max)
    zeros_i = np.zeros(R, dtype=np.int64)
    ones_i = np.ones(R, dtype=np.int64)
    tail = np.zeros(R, dtype=np.int64)  # next free column for appended slots (holes behind it)
    area_sys = area_wait = area_batch = busy = 0.0
    max_wait = 0
    iters = 0
    steps = 0
    c_kv = pool.c_kv
    c_attn = pool.c_attn
    dp = pool.step.adp > 1  # data-parallel attention: the busiest group paces each iteration
    # a lone prompt's chunk (the fast-forward stretch) does its attention on one group: adp times the balanced share
    c_attn_hot = c_attn + (pool.step.adp - 1) * pool.step.c_attn
    max_chunk = max_units = None
    watch = _Watch(give_up, arr, nout, rep) if give_up is not None and not closed else None
    while True:
        if watch is not None and iters % _WATCH_EVERY == 0 and iters:
            watch.check(t, first[:n], fin[:n])
        active = (adm > pf) | (ndec > 0)
        nxt = A[rr, np.minimum(adm, nmax)]
        idle = ~active
        jump = idle & np.isfinite(nxt)
        if jump.any():
            t = np.where(jump & (nxt > t), nxt, t)
        if not (active | jump).any():
            break
        iters += 1
        # 1. admission (FCFS while a slot and the KV reservation fit); windows sized to the need
        if closed:
            arrived = nrel
        else:
            # clamped to the row's requests: past its last arrival + 0.5 s the search also counts the row's
            # padding (and, later still, the next rows' entries), which are not arrivals
            arrived = np.minimum(np.searchsorted(flat, t + off, side="right") - rr * (nmax + 1), counts)
        cap = S - (adm - pf) - ndec
        wmax = int(np.minimum(arrived - adm, cap).max())
        if wmax > 0:
            wa = min(Wa, 1 << (wmax - 1).bit_length())
            ja = jA[:wa]
            pos = np.minimum(adm[:, None] + ja, nmax)
            nd_w = NEED[rows, pos]
            # (kvu is a sum of whole tokens, or of E-token steps under speculation: a rounding tolerance, or a
            # request capped at the whole cache would wait forever behind a residue of 1e-12)
            ok = ((A[rows, pos] <= t[:, None]) & (ja < cap[:, None])
                  & (np.cumsum(nd_w, axis=1) <= (KV - kvu + 1e-6)[:, None]))
            ok = np.logical_and.accumulate(ok, axis=1)
            k = ok.sum(axis=1)
            kvu += (nd_w * ok).sum(axis=1)  # whole tokens: exact in float
            adm += k
        else:
            k = zeros_i
        # 2. prefill chunks in FCFS order within the token budget left by the decodes
        npf = adm - pf
        if npf.any():
            Wp = min(Wp_max, 1 << (int(npf.max()) - 1).bit_length())
            jp = jP[:Wp]
            jp0 = jp == 0
            bud = np.maximum(B - ndec * (pool.draft_tokens + 1), 0)  # a decode verifies k + 1 positions
            ppos = np.minimum(pf[:, None] + jp, nmax)
            valid = jp < npf[:, None]
            pin_w = PIN[rows, ppos]
            off_w = OFF[rows, ppos]
            rem = np.where(valid, pin_w - np.where(jp0, pfd[:, None], 0), 0)
            cum = np.cumsum(rem, axis=1)
            full = valid & (cum <= bud[:, None])
            c = full.sum(axis=1)
            prev = np.where(c > 0, cum[rr, np.maximum(c - 1, 0)], 0)
            cn = np.minimum(c, Wp - 1)
            rem_next = rem[rr, cn]
            part = np.where(c < np.minimum(npf, Wp), np.maximum(np.minimum(bud - prev, rem_next), 0), 0)
            tok_pf = prev + part
            u_full = np.where(full, rem * (pin_w - rem + off_w) + rem * (rem + 1) / 2.0, 0.0)
            u_part = np.where(part > 0, part * (pin_w[rr, cn] - rem_next + off_w[rr, cn]) + part * (part + 1) / 2.0, 0.0)
            units = u_full.sum(axis=1) + u_part
            if dp:  # the largest chunk and its attention work: the busiest attention group holds at least that
                max_chunk = np.maximum(np.where(full, rem, 0).max(axis=1), part)
                max_units = np.maximum(u_full.max(axis=1), u_part)
        else:
            c = part = tok_pf = rem_next = np.zeros(R, dtype=np.int64)
            units = np.zeros(R)
            max_chunk = max_units = None
        # 3. iteration time. A row where nothing but time changes the batch runs ``nsteps`` iterations as
        # one event: only decodes, or only the oldest prompt's chunks filling the whole budget (no prompt
        # completes: c == 0), with nothing admissible before the stretch ends (no arrival yet, or no room:
        # room only shrinks while no decode finishes). Per iteration the decode context grows by ``ndec``
        # and the chunk's attention work by ``part^2``; the step time is linear in both, so the time is
        # closed form. The stretch ends at the next decode finish (kfin), the iteration in which the next
        # request arrives (karr, admissible or not) or the last iteration before the prompt's final chunk
        # fits (kpf).
        nseq_pf = c + (part > 0)
        nseq = ndec + nseq_pf
        base = pool.base_s(ndec, tok_pf, nseq_pf, units, max_chunk, max_units)
        ckv = c_kv * pool.step.dp_ctx_factor(ndec) if dp else c_kv  # per row: the busiest group's context
        if once:
            base = base + np.where(ndec > 0, once, 0.0)
        kfin = s_left.min(axis=1)
        ff = (tok_pf == 0) & (ndec > 0)
        fp = (c == 0) & (part > 0)
        if not fast_forward:
            ff = fp = np.zeros(R, dtype=bool)
        grow = ckv * ndec * g + np.where(fp, c_attn_hot * part * part, 0.0)  # step-time growth per iteration
        if ff.any() or fp.any():
            # the next arrival ends the stretch even when it would queue behind a blocked request: it
            # changes nothing in the batch, but the time-averaged queue (Little's law) counts it from then
            gap = A[rr, np.minimum(arrived, nmax)] - t
            qa = np.maximum(0.5 * grow, 1e-12)
            qb = np.maximum(base + ckv * ctx - qa, 1e-12)
            root = (np.sqrt(qb * qb + 4.0 * qa * np.clip(gap, 0.0, 1e30)) - qb) / (2.0 * qa)
            karr = np.where(gap > 0, np.ceil(root), 1.0)
            kpf = np.where(fp, (rem_next - 1) // np.maximum(part, 1), 1e18)
            nsteps = np.where(ff | fp, np.clip(np.minimum(np.minimum(kfin, karr), kpf), 1, 1e15), 1).astype(np.int64)
        else:
            nsteps = ones_i
        dt = nsteps * (base + ckv * ctx) + grow * nsteps * (nsteps - 1) / 2.0
        dt = np.where(active | (k > 0), dt, 0.0)
        t_end = t + dt
        steps += int(nsteps[dt > 0].sum())
        # time-weighted state over this event (state at its start)
        insys = arrived - nfin
        waiting = arrived - adm
        area_sys += float(insys @ dt)
        area_wait += float(waiting @ dt)
        area_batch += float(nseq @ dt)
        busy += float(dt.sum())
        mw = int(waiting.max())
        if mw > max_wait:
            max_wait = mw
        # 4. decodes advance; finished requests leave and free their slot and KV reservation
        ctx += ndec * nsteps * g
        if paged:
            kvu += ndec * nsteps * g
            pk = float(kvu.max())
            if pk > kv_peak:
                kv_peak = pk
        s_left -= nsteps.astype(np.int32)[:, None]
        fin_r = np.zeros(R, dtype=np.int64)
        if (kfin - nsteps <= 0).any():
            dr, ds = np.nonzero(s_left <= 0)
            ids = s_rid[dr, ds]
            fin[ids] = t_end[dr]
            kvu -= np.bincount(dr, weights=need_x[ids], minlength=R)
            ctx -= np.bincount(dr, weights=fctx_x[ids], minlength=R)
            fr = np.bincount(dr, minlength=R)
            fin_r += fr
            ndec -= fr
            s_rid[dr, ds] = n
            s_left[dr, ds] = BIG
        # 5. completed prefills: first token now; into a decode slot unless that was the last token
        if c.any():
            cr, cj = np.nonzero(full)
            p_ = ppos[cr, cj]
            ids = RID[cr, p_]
            first[ids] = t_end[cr]
            no = NOUT[cr, p_]
            one = no <= 1
            if one.any():
                fin[ids[one]] = t_end[cr[one]]
                kvu -= np.bincount(cr[one], weights=need_x[ids[one]], minlength=R)
                fin_r += np.bincount(cr[one], minlength=R)
            go = ~one
            if go.any():
                gr, gp = cr[go], p_[go]
                cnt = np.bincount(gr, minlength=R)
                if int((tail + cnt).max()) > width:
                    # compact: occupied slots to the front (stable), then grow if still short
                    order = np.argsort(s_rid == n, axis=1, kind="stable")
                    s_rid = np.take_along_axis(s_rid, order, axis=1)
                    s_left = np.take_along_axis(s_left, order, axis=1)
                    tail = ndec.copy()
                    if int((tail + cnt).max()) > width:
                        new = int(min(S, max(2 * width, int((tail + cnt).max()))))
                        s_rid = np.concatenate([s_rid, np.full((R, new - width), n, dtype=np.int32)], axis=1)
                        s_left = np.concatenate([s_left, np.full((R, new - width), BIG, dtype=np.int32)], axis=1)
                        width = new
                start = np.cumsum(cnt) - cnt
                slot = tail[gr] + np.arange(len(gr)) - start[gr]
                tail += cnt
                s_rid[gr, slot] = RID[gr, gp]
                s_left[gr, slot] = DST[gr, gp]
                ctx += np.bincount(gr, weights=C0[gr, gp] + 1.0, minlength=R)
                ndec += cnt
        pf += c
        pfd = np.where(c > 0, part, pfd + part * nsteps)
        nfin += fin_r
        t = np.where(dt > 0, t_end, t)
        if closed and fin_r.any():
            # release one new request per finished one, arriving now
            W = int(fin_r.max())
            jr = np.arange(W)
            rpos = nrel[:, None] + jr
            m = (jr < fin_r[:, None]) & (rpos < counts[:, None])
            r2, j2 = np.nonzero(m)
            A[r2, rpos[r2, j2]] = t_end[r2]
            nrel += m.sum(axis=1)
    if np.isnan(fin[:n]).any():  # pragma: no cover - a scheduler bug, never a user error
        raise RuntimeError(f"{int(np.isnan(fin[:n]).sum())} requests never finished")
    if paged and kv_peak > KV_own:  # the whole cache's over-commitment (the shared prefix in it)
        notes.append(f"paged KV cache over-committed by {(kv_peak + kv_store) / pool.kv_capacity_tokens - 1:.1%} at its peak "
                     "(preemption is not modelled)")
    if closed:  # a request "arrives" when a finishing one releases it
        arr = A[rep, qpos]
    horizon = float(t.max())
    return SimResult(arr.copy(), c0, nout, first[:n], fin[:n], rep, busy, area_sys, area_wait,
                     area_batch, max_wait, iters, horizon, notes, steps)


class SloMissed(Exception):
    """An SLO search's run stopped early: its p99 TTFT or TPOT is sure to miss the target (``simulate``'s give_up)."""


_WATCH_EVERY = 256  # simulation events between two give-up checks
# max_qps_under_slo's first rates, as fractions of the analytic capacity: above it when that meets the SLO, else
# below it, finest near it; the last runs to its end (its latencies are shown when nothing meets the SLO)
_LADDER_UP = (1.3, 1.7)
_LADDER_DOWN = (0.96, 0.92, 0.85, 0.75, 0.6, 0.4, 0.15, 0.04)


class _Watch:
    """The give-up check of :func:`simulate`: counts the judged requests sure to miss a target.

    np.percentile's p99 of ``m`` values interpolates between the sorted values at ``i = floor(0.99 (m - 1))`` and
    ``i + 1``; once ``m - i`` of them exceed the target, the value at ``i`` does, and so does the p99."""

    def __init__(self, targets: tuple[float | None, float | None], arr: np.ndarray, nout: np.ndarray,
                 rep: np.ndarray) -> None:
        self.ttft, self.tpot = targets
        self.arr, self.rep = arr, rep
        j = judged_requests(arr)
        self.j1 = j
        self.j2 = j & (nout > 1)
        self.y1 = np.maximum(nout - 1, 1).astype(float)
        self.k1 = self._misses_needed(int(j.sum()))
        self.k2 = self._misses_needed(int(self.j2.sum()))

    @staticmethod
    def _misses_needed(m: int) -> int:
        return m - int(np.floor(0.99 * (m - 1))) if m > 0 else 1 << 62

    def check(self, t: np.ndarray, first: np.ndarray, fin: np.ndarray) -> None:
        now = t[self.rep]  # each request's replica's clock
        got = ~np.isnan(first)
        if self.ttft is not None:
            ttft_lb = np.where(got, first, now) - self.arr
            if int(np.count_nonzero(self.j1 & (ttft_lb > self.ttft))) >= self.k1:
                raise SloMissed("ttft")
        if self.tpot is not None:
            end = np.where(np.isnan(fin), now, fin)
            tpot_lb = np.where(got, (end - first) / self.y1, 0.0)
            if int(np.count_nonzero(self.j2 & got & (tpot_lb > self.tpot))) >= self.k2:
                raise SloMissed("tpot")


def _sorted(reqs: Requests) -> Requests:
    o = np.argsort(reqs.arrival_s, kind="stable")
    return Requests(reqs.arrival_s[o], reqs.input_len[o], reqs.output_len[o])


def cached_tokens(input_len: np.ndarray, prefix_hit: float, shared_prefix: int = 0) -> np.ndarray:
    """Prompt tokens found in the prefix cache: ``prefix_hit`` of each prompt, rounded down, and at least the
    ``shared_prefix`` every prompt starts with, leaving at least the last token to compute (its logits give the
    first output token)."""
    x = np.asarray(input_len, dtype=np.int64)
    if prefix_hit <= 0.0 and shared_prefix <= 0:
        return np.zeros_like(x)
    c = np.clip(np.floor(prefix_hit * x).astype(np.int64), 0, np.maximum(x - 1, 0))
    return np.maximum(c, shared_tokens(x, shared_prefix)) if shared_prefix > 0 else c


def shared_tokens(input_len: np.ndarray, shared_prefix: int) -> np.ndarray:
    """The part of each prompt that is the shared prefix: ``shared_prefix`` tokens, or all but the last token of
    a shorter prompt."""
    x = np.asarray(input_len, dtype=np.int64)
    return np.clip(np.full_like(x, int(shared_prefix)), 0, np.maximum(x - 1, 0))


def simulate_deployment(pool: Pool, reqs: Requests, *, concurrency: int | None = None,
                        prefill_pool: Pool | None = None, kv_bytes_per_token: float = 0.0,
                        system: System | None = None, prefix_hit: float = 0.0,
                        shared_prefix: int = 0, cascade: bool = False,
                        give_up: tuple[float | None, float | None] | None = None) -> SimResult:
    """Simulate a deployment: one pool (co-located prefill and decode) or prefill + decode pools.

    ``prefix_hit``: the share of each prompt already in the prefix cache (earlier turns of a conversation):
    its KV is reused, so only the rest is prefilled; the request holds that KV as its own. ``shared_prefix``:
    the tokens every prompt starts with (a system prompt, tool definitions): cached, and their KV held once
    per replica (each pool's), not per request; a disaggregated transfer sends only the rest. ``cascade``: the
    decodes read the shared prefix once per iteration (see :func:`simulate`). ``give_up``: (TTFT, TPOT) targets
    whose sure miss stops the run (:class:`SloMissed`; the prefill pool's TTFT only when disaggregated)."""
    reqs = _sorted(reqs)
    x = reqs.input_len.astype(np.int64)
    y = reqs.output_len.astype(np.int64)
    xp = x - cached_tokens(x, prefix_hit, shared_prefix)
    sh = shared_tokens(x, shared_prefix) if shared_prefix > 0 else None
    kw: dict[str, Any] = dict(kv_shared=sh, kv_store=int(shared_prefix), cascade=cascade) if sh is not None else {}
    if prefill_pool is None:
        return simulate(pool, reqs.arrival_s, xp, x, y, concurrency=concurrency, give_up=give_up, **kw)
    if concurrency is not None:
        raise RainierError("disaggregated pools take open-loop traffic", field="--concurrency",
                           fix="use --qps or --offline with --prefill-replicas")
    pre = simulate(prefill_pool, reqs.arrival_s, xp, x, np.ones_like(y),
                   give_up=(give_up[0], None) if give_up is not None else None, **kw)
    bw = (system.scaleout.bw_bytes_s if system is not None else 50e9) * prefill_pool.chips_per_replica
    xfer = (x if sh is None else x - sh) * kv_bytes_per_token / bw + 20e-6
    dec_arr = pre.first_token_s + xfer
    o = np.argsort(dec_arr, kind="stable")
    if sh is not None:
        kw["kv_shared"] = sh[o]
    dec = simulate(pool, dec_arr[o], np.zeros_like(x), x[o], y[o], **kw)
    inv = np.empty_like(o)
    inv[o] = np.arange(len(o))
    finish = dec.finish_s[inv]
    return SimResult(reqs.arrival_s, x, y, pre.first_token_s, finish, pre.replica,
                     pre.busy_time_s + dec.busy_time_s, pre.area_in_system + dec.area_in_system,
                     pre.area_waiting + dec.area_waiting, dec.area_batch, max(pre.max_waiting, dec.max_waiting),
                     pre.iterations + dec.iterations, max(pre.horizon_s, dec.horizon_s),
                     pre.notes + dec.notes + [f"disaggregated: {prefill_pool.replicas} prefill + {pool.replicas} "
                                              f"decode replicas; mean KV transfer {float(xfer.mean()) * 1e3:.2f} ms"],
                     pre.steps + dec.steps)


def run_meets_slo(pool: Pool, base: Requests, q: float, slo_ttft_s: float | None, slo_tpot_s: float | None, *,
                  prefill_pool: Pool | None = None, kv_bytes_per_token: float = 0.0,
                  system: System | None = None, prefix_hit: float = 0.0,
                  shared_prefix: int = 0, cascade: bool = False,
                  give_up: bool = False) -> tuple[bool, SimResult | None]:
    """Run ``base``'s unit-rate arrivals at rate ``q``: whether p99 TTFT and p99 TPOT meet the SLO (:func:`slo_met`:
    percentiles over the requests after the first quarter of arrivals, a finite run starts empty), and the run.
    ``give_up``: stop the run as soon as it is sure to miss (then ``(False, None)``: no run to show)."""
    r = base.with_arrivals(base.arrival_s / q)
    try:
        sim = simulate_deployment(pool, r, prefill_pool=prefill_pool, kv_bytes_per_token=kv_bytes_per_token,
                                  system=system, prefix_hit=prefix_hit, shared_prefix=shared_prefix, cascade=cascade,
                                  give_up=(slo_ttft_s, slo_tpot_s) if give_up else None)
    except SloMissed:
        return False, None
    return slo_met(sim, slo_ttft_s, slo_tpot_s), sim


def slo_met(sim: SimResult, slo_ttft_s: float | None, slo_tpot_s: float | None) -> bool:
    """Whether p99 TTFT and p99 TPOT over the judged requests (:meth:`SimResult.judged`) meet the SLO."""
    keep = sim.judged()
    ok = True
    if slo_ttft_s is not None:
        ok &= (sim.pct("ttft", (99,), keep)["p99"] or 0.0) <= slo_ttft_s
    if slo_tpot_s is not None:
        p = sim.pct("tpot", (99,), keep)["p99"]
        ok &= p is None or p <= slo_tpot_s
    return bool(ok)


def max_qps_under_slo(pool: Pool, base: Requests, capacity_rps: float, slo_ttft_s: float | None,
                      slo_tpot_s: float | None, *, prefill_pool: Pool | None = None,
                      kv_bytes_per_token: float = 0.0, system: System | None = None,
                      iters: int = 5, prefix_hit: float = 0.0, shared_prefix: int = 0,
                      cascade: bool = False) -> tuple[float, SimResult]:
    """Highest Poisson rate whose p99 TTFT and p99 TPOT meet the SLO (MLPerf Server), by bisection.

    ``base`` holds unit-rate Poisson arrivals; a rate ``q`` uses arrivals ``base / q`` (the same random
    stream at every rate, so latency grows monotonically with load). Returns (0, run at the lowest
    rate tried) when even a light load misses the SLO. A run sure to miss stops early (``simulate``'s give_up)
    unless it may be that lowest-rate run, whose latencies are shown.
    """
    def run(q: float, give_up: bool = True) -> tuple[bool, SimResult | None]:
        return run_meets_slo(pool, base, q, slo_ttft_s, slo_tpot_s, prefill_pool=prefill_pool,
                             kv_bytes_per_token=kv_bytes_per_token, system=system, prefix_hit=prefix_hit,
                             shared_prefix=shared_prefix, cascade=cascade, give_up=give_up)

    cap = max(capacity_rps, 1e-6)
    # Bracket from the analytic capacity down: a run that misses stops early (cheap), a run that meets the SLO
    # runs to its end, and lighter loads run longer (more, smaller iterations); the rate found is most often
    # 0.9-1.0 of the capacity, so the ladder is finest there.
    ok, sim = run(cap)
    best, best_sim = cap, sim
    if ok:
        lo_q, hi_q = cap, 0.0
        for f in _LADDER_UP:
            ok2, s2 = run(f * cap)
            if not ok2:
                hi_q = f * cap
                break
            lo_q, best, best_sim = f * cap, f * cap, s2
        if hi_q == 0.0:
            assert best_sim is not None
            return best, best_sim
    else:
        hi_q, lo_q = cap, 0.0
        for f in _LADDER_DOWN:
            ok2, s2 = run(f * cap, give_up=f != _LADDER_DOWN[-1])
            if ok2:
                lo_q, best, best_sim = f * cap, f * cap, s2
                break
            hi_q = f * cap
        if lo_q == 0.0:
            assert s2 is not None  # (the lowest rate runs to its end)
            return 0.0, s2
    for _ in range(iters):
        if hi_q / lo_q < 1.03:
            break
        mid = 0.5 * (lo_q + hi_q)
        ok, sim = run(mid)
        if ok:
            lo_q, best, best_sim = mid, mid, sim
        else:
            hi_q = mid
    assert best_sim is not None  # (a run that met the SLO ran to its end)
    return best, best_sim
