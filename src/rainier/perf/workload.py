"""Serving workloads: request length distributions, arrival processes and trace files.

A workload is a set of requests, each an arrival time (s), an input length and an output length
(tokens). rainier represents it as three numpy arrays (:class:`Requests`) so the serving simulator
can work on all requests at once.

Length distributions
--------------------
* :class:`FixedLengths` -- every request has the same input and output length (vendor benchmark
  tables: "128 in / 2048 out").
* :class:`ClippedLogNormal` -- ``min(max(round(X), 1), max_len)`` with ``X ~ LogNormal(mu, sigma)``;
  ``mu`` is solved so the *clipped* mean equals the published mean, using the closed form
  ``E[min(X, M)] = e^(mu + s^2/2) Phi((ln M - mu - s^2)/s) + M (1 - Phi((ln M - mu)/s))``.
  ``openorca`` is MLPerf Inference's Llama-2-70B set (mean ~294 input, ~290 output tokens, both at
  most 1024; MLCommons inference rules / the loadgen summaries quoted in inference-measured.csv). The
  spread ``sigma`` is not published with the means; 0.8 is an assumption that gives the long right
  tail seen in chat prompts and answers.
* :class:`EmpiricalLengths` -- resample (input, output) pairs from a trace.

Arrivals: Poisson at a rate (exponential gaps), offline (all at t = 0, MLPerf Offline), or the
timestamps of a trace. A fixed concurrency (closed loop) is handled by the simulator itself.

Trace files: CSV with a timestamp column and input/output token columns. The public Azure LLM
inference traces (Patel et al., "Splitwise", ISCA 2024; CC-BY 4.0) use ``TIMESTAMP,ContextTokens,
GeneratedTokens``; ``time_s,input_tokens,output_tokens`` (seconds) is accepted too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from rainier.errors import RainierError

__all__ = [
    "Requests",
    "LengthDist",
    "FixedLengths",
    "ClippedLogNormal",
    "EmpiricalLengths",
    "NAMED_DISTS",
    "named_dist",
    "poisson_arrivals",
    "load_trace",
    "make_requests",
]


@dataclass(frozen=True)
class Requests:
    """Requests as parallel arrays, sorted by arrival: arrival_s, input_len, output_len (>= 1)."""

    arrival_s: np.ndarray
    input_len: np.ndarray
    output_len: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.arrival_s)
        if len(self.input_len) != n or len(self.output_len) != n:
            raise RainierError("arrival, input and output arrays differ in length", field="requests")

    def __len__(self) -> int:
        return len(self.arrival_s)

    @property
    def mean_input(self) -> float:
        return float(self.input_len.mean()) if len(self) else 0.0

    @property
    def mean_output(self) -> float:
        return float(self.output_len.mean()) if len(self) else 0.0

    def with_arrivals(self, arrival_s: np.ndarray) -> Requests:
        return Requests(np.asarray(arrival_s, dtype=float), self.input_len, self.output_len)


class LengthDist(Protocol):
    """Draws (input, output) token counts."""

    @property
    def name(self) -> str: ...

    @property
    def mean_input(self) -> float: ...

    @property
    def mean_output(self) -> float: ...

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class FixedLengths:
    input_len: int
    output_len: int
    name: str = "fixed"

    def __post_init__(self) -> None:
        if self.input_len < 1:
            raise RainierError(f"input length must be at least 1 (got {self.input_len})", field="--input-len",
                               fix="give a positive token count")
        if self.output_len < 1:
            raise RainierError(f"output length must be at least 1 (got {self.output_len})", field="--output-len",
                               fix="give a positive token count")

    @property
    def mean_input(self) -> float:
        return float(self.input_len)

    @property
    def mean_output(self) -> float:
        return float(self.output_len)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full(n, self.input_len, dtype=np.int64), np.full(n, self.output_len, dtype=np.int64)


def _clipped_mean(mu: float, s: float, cap: float) -> float:
    lm = math.log(cap)
    return math.exp(mu + s * s / 2) * norm.cdf((lm - mu - s * s) / s) + cap * (1 - norm.cdf((lm - mu) / s))


def _solve_mu(mean: float, s: float, cap: float) -> float:
    if not 1 <= mean < cap:
        raise RainierError(f"mean length {mean} must lie in [1, {cap})", field="lengths")
    return float(brentq(lambda m: _clipped_mean(m, s, cap) - mean, -20.0, math.log(cap) + 20.0))


@dataclass(frozen=True)
class ClippedLogNormal:
    """Log-normal input and output lengths clipped to [1, max], with the clipped means as given."""

    mean_in: float
    mean_out: float
    max_in: int = 1024
    max_out: int = 1024
    sigma_in: float = 0.8
    sigma_out: float = 0.8
    name: str = "lognormal"

    @property
    def mean_input(self) -> float:
        return self.mean_in

    @property
    def mean_output(self) -> float:
        return self.mean_out

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        mu_i = _solve_mu(self.mean_in, self.sigma_in, self.max_in)
        mu_o = _solve_mu(self.mean_out, self.sigma_out, self.max_out)
        x = np.clip(np.rint(rng.lognormal(mu_i, self.sigma_in, n)), 1, self.max_in).astype(np.int64)
        y = np.clip(np.rint(rng.lognormal(mu_o, self.sigma_out, n)), 1, self.max_out).astype(np.int64)
        return x, y


@dataclass(frozen=True)
class EmpiricalLengths:
    """Resample (input, output) pairs from observed requests (e.g. a trace)."""

    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    name: str = "empirical"

    @property
    def mean_input(self) -> float:
        return float(np.mean(self.inputs))

    @property
    def mean_output(self) -> float:
        return float(np.mean(self.outputs))

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        idx = rng.integers(0, len(self.inputs), n)
        return np.asarray(self.inputs, dtype=np.int64)[idx], np.asarray(self.outputs, dtype=np.int64)[idx]


NAMED_DISTS: dict[str, LengthDist] = {
    # MLPerf Inference Llama-2-70B (OpenOrca): mean ~294 in / ~290 out, max 1024 each.
    "openorca": ClippedLogNormal(294.0, 290.0, 1024, 1024, name="openorca"),
    # MLPerf Inference Mixtral-8x7B (OpenOrca + GSM8K + MBXP): ~146 output tokens on average; the
    # input mean is not in the reference table -- assumed equal to OpenOrca's (stated where used).
    "mlperf-mixtral": ClippedLogNormal(294.0, 146.0, 2048, 2048, name="mlperf-mixtral"),
}


def named_dist(name: str) -> LengthDist:
    key = name.lower()
    aliases = {"mlperf-llama2-70b": "openorca", "mlperf": "openorca"}
    key = aliases.get(key, key)
    if key not in NAMED_DISTS:
        raise RainierError(f"unknown length distribution '{name}'", field="--lengths",
                           fix=f"use one of {', '.join(sorted(NAMED_DISTS))} or --input-len/--output-len")
    return NAMED_DISTS[key]


def poisson_arrivals(rng: np.random.Generator, rate_per_s: float, n: int) -> np.ndarray:
    """Arrival times of a Poisson process at ``rate_per_s``, starting at 0."""
    if not math.isfinite(rate_per_s):
        raise RainierError(f"arrival rate must be a finite number (got {rate_per_s})", field="--qps",
                           fix="give e.g. --qps 10; for the saturated rate, use --offline")
    if not rate_per_s > 0:
        raise RainierError(f"arrival rate must be positive (got {rate_per_s})", field="--qps", fix="give e.g. --qps 10")
    gaps = rng.exponential(1.0 / rate_per_s, n)
    t = np.cumsum(gaps)
    return t - t[0] if n else t


MAX_TRACE_TOKENS = 100_000_000  # tokens in one request of a trace: beyond any model's context
_TIME_COLS = ("TIMESTAMP", "timestamp", "time_s", "arrival_s", "time")
_IN_COLS = ("ContextTokens", "input_tokens", "input_len", "prompt_tokens", "context_tokens")
_OUT_COLS = ("GeneratedTokens", "output_tokens", "output_len", "generated_tokens", "completion_tokens")


def _pick(cols: list[str], names: tuple[str, ...], path: Path, what: str) -> str:
    for n in names:
        if n in cols:
            return n
    raise RainierError(f"{path}: no {what} column (found {', '.join(cols)})", field="--trace",
                       fix=f"name it one of {', '.join(names)}")


MAX_TRACE_SPAN_S = 1e9  # beyond ~32 years of arrivals the simulation's clocks lose sub-millisecond precision


def load_trace(path: str | Path, limit: int | None = None) -> Requests:
    """Requests from a trace CSV (Azure LLM inference trace format or time_s/input/output columns).

    Arrival times are seconds from the first request; requests with zero output are given one token
    (the first token is always produced by the prefill).
    """
    import pandas as pd

    p = Path(path)
    if not p.exists():
        raise RainierError(f"trace file {p} does not exist", field="--trace", fix="give a CSV trace file")
    import warnings

    try:
        # index_col=False: a row with more fields than the header is not read with its first field as an index
        # (every column shifted); pandas warns that it would drop data, which is an error here. A trailing comma
        # on every row is read as intended.
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            df = pd.read_csv(p, nrows=limit, index_col=False)
    except pd.errors.ParserWarning:
        raise RainierError(f"{p}: some rows have more fields than the header", field="--trace",
                           fix="give every row the header's fields (timestamp, input tokens, output tokens)") from None
    except Exception as exc:  # noqa: BLE001 - any parse failure is the user's file
        raise RainierError(f"{p}: cannot read as CSV ({exc})", field="--trace") from None
    cols = list(df.columns)
    tc, ic, oc = _pick(cols, _TIME_COLS, p, "timestamp"), _pick(cols, _IN_COLS, p, "input-token"), _pick(
        cols, _OUT_COLS, p, "output-token")
    if len(df) == 0:
        raise RainierError(f"{p}: the trace has no requests", field="--trace")
    raw = df[tc]
    if pd.api.types.is_bool_dtype(raw):
        raise RainierError(f"{p}: column {tc} holds true/false, not times", field="--trace",
                           fix="give seconds or date-times")
    if pd.api.types.is_numeric_dtype(raw):
        t = raw.to_numpy(dtype=float)
        if not np.isfinite(t).all():
            bad = int((~np.isfinite(t)).argmax())
            raise RainierError(f"{p}: row {bad + 2}: timestamp '{raw.iloc[bad]}' is empty or not finite", field="--trace",
                               fix="give every request a time in seconds")
    elif (num := pd.to_numeric(raw, errors="coerce")).notna().any():  # seconds, with a value that is not a number
        bad = int(num.isna().to_numpy().argmax())
        raise RainierError(f"{p}: row {bad + 2}: timestamp '{raw.iloc[bad]}' is not a number of seconds",
                           field="--trace", fix="give every request a time in seconds (or every one a date-time)")
    else:
        with warnings.catch_warnings():  # pandas warns when it cannot infer one format: the check below says it
            warnings.simplefilter("ignore")
            ts = pd.to_datetime(raw, errors="coerce")
        if ts.isna().any():
            bad = int(ts.isna().to_numpy().argmax())
            raise RainierError(f"{p}: row {bad + 2}: cannot read timestamp '{raw.iloc[bad]}'", field="--trace")
        t = (ts - ts.min()).dt.total_seconds().to_numpy(dtype=float)
    def tokens(col: str) -> np.ndarray:
        v = df[col]
        if pd.api.types.is_bool_dtype(v) or not pd.api.types.is_numeric_dtype(v):
            raise RainierError(f"{p}: column {col} holds values that are not token counts "
                               f"(e.g. '{v.iloc[int(pd.to_numeric(v, errors='coerce').isna().to_numpy().argmax())]}')",
                               field="--trace", fix="give whole numbers of tokens")
        a = v.to_numpy(dtype=float)
        bad = ~np.isfinite(a) | (a < 0) | (a > MAX_TRACE_TOKENS) | (a != np.floor(a))
        if bad.any():
            i = int(bad.argmax())
            raise RainierError(f"{p}: row {i + 2}: {col} '{v.iloc[i]}' is not a token count", field="--trace",
                               fix=f"give whole numbers of tokens from 0 to {MAX_TRACE_TOKENS:,}")
        return a.astype(np.int64)

    x, y = tokens(ic), tokens(oc)
    span = float(t.max()) - float(t.min())  # Python floats: an overflow is inf, without a numpy warning
    if span > MAX_TRACE_SPAN_S:
        raise RainierError(f"{p}: the trace spans {span:.3g} s, more than {MAX_TRACE_SPAN_S:.0e} s "
                           "(~32 years)", field="--trace", fix="give arrival times in seconds from the trace's start")
    order = np.argsort(t, kind="stable")
    t = t[order] - t[order][0]
    return Requests(t, np.maximum(x[order].astype(np.int64), 1), np.maximum(y[order].astype(np.int64), 1))


def round_robin_arrivals(rng: np.random.Generator, rate: float, n: int, replicas: int, keep: int) -> np.ndarray:
    """Arrival times of the first ``n`` requests that round-robin routing sends to ``keep`` of ``replicas``
    replicas fed one Poisson stream of ``rate`` requests/s: requests ``b R + j`` for ``j < keep`` of each block
    of ``R`` (request ``i`` of the result goes to replica ``i % keep``, as in the simulator). Within a block
    the kept arrivals are exponential gaps apart; from a block's last kept arrival to the next block's first
    lie ``R - keep + 1`` gaps (a gamma variate). So each simulated replica sees exactly the arrivals it would
    among all ``R`` (Erlang-``R`` gaps), which a thinned Poisson stream would not."""
    if not 1 <= keep <= replicas:
        raise ValueError(f"keep {keep} of {replicas} replicas")
    blocks = -(-n // keep)
    gaps = rng.exponential(1.0 / rate, size=(blocks, keep))
    gaps[1:, 0] = rng.gamma(replicas - keep + 1, 1.0 / rate, size=blocks - 1)
    return np.cumsum(gaps.ravel())[:n]


def make_requests(dist: LengthDist, n: int, rng: np.random.Generator, *, qps: float | None = None) -> Requests:
    """``n`` requests with lengths from ``dist``; Poisson arrivals at ``qps``, else all at t = 0."""
    if n < 1:
        raise RainierError(f"need at least one request (got {n})", field="--requests", fix="give --requests 1000")
    x, y = dist.sample(rng, n)
    t = poisson_arrivals(rng, qps, n) if qps is not None else np.zeros(n)
    return Requests(t, x, y)
