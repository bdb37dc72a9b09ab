"""Failures: a Poisson process per system pool, causes with blast radius and repair-time distributions.

Rates are per chip-hour or per system-hour by cause; the default preset groups the Llama 3 405B table
(419 unexpected interruptions in 54 days on 16,384 H100, facts.md §2(c); about 2e-5 per chip-hour,
i.e. ~470 a day at a million chips) into accelerator, HBM, software, network, host and SDC causes.

Cheap sampling: instead of one clock per chip or system, each pool has one exponential clock whose rate
bounds the hazard of all its delivered systems (``n_delivered x per-system hazard``). When it fires, a
delivered system is drawn uniformly; if it is not in service (failed, retired) the draw is discarded —
Lewis-Shedler thinning, which is exact for the in-service systems. The cause is drawn in proportion to
its per-system hazard. Blast radius: ``chip`` and ``system`` take the system out of service (the system
is the scheduling unit); ``rack`` takes every in-service system of the rack. Repair times are drawn from
the cause's distribution (fixed, exponential or lognormal, optionally capped).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from rainier.fleet.scenario import Dist, FailureCause
from rainier.fleet.state import Stream

__all__ = ["FailureTable", "draw_duration"]


def draw_duration(d: Dist, s: Stream) -> float:
    if d.dist == "fixed":
        x = float(d.mean_s)  # type: ignore[arg-type]
    elif d.dist == "exponential":
        x = float(d.mean_s) * s.exponential()  # type: ignore[arg-type]
    else:
        u = min(max(s.uniform(), 1e-12), 1 - 1e-12)
        x = float(d.median_s) * math.exp(d.sigma * _norm_ppf(u))  # type: ignore[arg-type]
    if d.max_s is not None:
        x = min(x, float(d.max_s))
    return x


def _norm_ppf(u: float) -> float:
    # Acklam's rational approximation (|error| < 1.2e-9), avoids a scipy call per draw.
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02,
         -3.066479806614716e01, 2.506628277459239e00)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01,
         -1.328068155288572e01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00,
         4.374664141464968e00, 2.938163982698783e00)
    dd = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    plow = 0.02425
    if u < plow:
        q = math.sqrt(-2 * math.log(u))
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1)
    if u > 1 - plow:
        q = math.sqrt(-2 * math.log(1 - u))
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((dd[0] * q + dd[1]) * q + dd[2]) * q + dd[3]) * q + 1)
    q = u - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


@dataclass(frozen=True)
class FailureTable:
    """Per-system hazard by cause for one system kind."""

    causes: tuple[FailureCause, ...]
    hazard_per_s: float        # per system, all causes
    cdf: tuple[float, ...]     # cumulative cause probabilities

    @staticmethod
    def build(causes: tuple[FailureCause, ...], chips_per_system: int, scale: float) -> FailureTable:
        h = np.array([(c.rate_per_chip_hour * chips_per_system + c.rate_per_system_hour) * scale / 3600.0
                      for c in causes], dtype=float)
        tot = float(h.sum())
        cdf = tuple(np.cumsum(h) / tot) if tot > 0 else ()
        return FailureTable(causes, tot, cdf)

    def pick(self, u: float) -> FailureCause:
        for c, p in zip(self.causes, self.cdf, strict=True):
            if u <= p:
                return c
        return self.causes[-1]
