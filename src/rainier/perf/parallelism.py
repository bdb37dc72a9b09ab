"""Parallelism configurations of a training job: the sizes, their validity, the search space.

A configuration is TP x PP x DP x CP chips (EP is carved out of DP x CP, as in Megatron-Core), with a
microbatch size, interleaving depth ``vp``, recomputation mode and ZeRO stage. Validity rules:

* ``tp x pp x dp x cp == chips``; TP divides the attention heads, TP and the KV heads divide one
  another (KV heads are replicated when TP exceeds them), TP stays within the scale-up domain;
* ``pp <= layers`` (uneven stages allowed: the most loaded stage sets the pace), ``pp x vp <= layers + 2``
  (Megatron-Core can give the embedding and the loss a virtual stage each: accepted when given; the
  search keeps to the usual ``pp x vp <= layers``, every virtual stage holding a layer);
* CP divides the sequence into even chunks (ring attention with load-balanced causal halves);
* EP divides the experts and ``dp x cp``; only MoE models take EP > 1; with an expert tensor-parallel size
  ``etp`` given (Megatron-Core's MoE parallel folding), ``etp`` divides TP and ``ep x etp`` divides
  ``tp x cp x dp`` instead (``etp = 1``: whole experts, EP spanning the TP ranks too);
* ``global_batch`` is a multiple of ``dp x micro_batch`` (gradient accumulation makes up the rest).

The search enumerates TP over powers of two within the scale-up domain, PP over the divisors of the
layer count, CP over powers of two leaving chunks of at least 1,024 tokens, EP over the divisors of
the experts, microbatch 1-8, vp 1-8, the three recomputation modes and ZeRO 1, 2 or 3, with DP derived
from the chip count. The space stays small (hundreds to a few thousand points) at any chip count,
which is what makes a million-chip search take milliseconds.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from typing import Any

from rainier.catalog.schema import Model
from rainier.perf.memory import RECOMPUTE

__all__ = ["Parallelism", "check_parallelism", "size_problem", "batch_problem", "candidates", "divisors"]


@dataclass(frozen=True)
class Parallelism:
    """A training configuration: parallel sizes, microbatch, recomputation, ZeRO stage."""

    tp: int = 1
    pp: int = 1
    dp: int = 1
    cp: int = 1
    ep: int = 1
    vp: int = 1
    micro_batch: int = 1
    recompute: str = "selective"
    zero: int = 1
    sp: bool = True
    recompute_fraction: float = 1.0  # with recompute="full": share of each (virtual) stage's layers recomputed
    etp: int | None = None  # expert tensor parallelism: None = tp (experts split like the dense layers); 1 =
    #                         Megatron-Core's MoE parallel folding (whole experts, EP folded over TP x CP x DP)


    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"etp": self.expert_tp}

    @property
    def expert_tp(self) -> int:
        """Expert tensor-parallel size: ``etp`` if given, else ``tp``."""
        return self.etp if self.etp is not None else self.tp

    @property
    def expert_dp(self) -> int:
        """Expert data-parallel size: the ``tp x cp x dp`` ranks of a stage over ``ep x etp``."""
        return max(1, (self.tp * self.cp * self.dp) // (self.ep * self.expert_tp))

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.dp * self.cp


def size_problem(model: Model, dim: str, size: int, *, seq: int, scaleup_span: int,
                 system_name: str = "") -> tuple[str, str, str] | None:
    """Why one parallel size cannot be used whatever the others are, as (flag, reason, fix); None if it can.
    The structural rules of ``check_parallelism`` that depend on one size alone (``tp`` and the heads and the
    scale-up domain, ``pp`` and the layers, ``cp`` and the sequence, ``ep`` and the experts)."""
    if dim == "tp":
        if model.heads % size:
            return "--tp", f"{size} does not divide the {model.heads} attention heads", f"use a divisor of {model.heads}"
        kv = model.n_kv_heads
        if kv % size and size % kv:
            return "--tp", f"{size} and the {kv} KV heads do not divide one another", \
                f"use a divisor or a multiple of {kv}"
        if size > scaleup_span:
            return "--tp", f"{size} exceeds the scale-up domain of {scaleup_span} chips ({system_name})", \
                "keep TP within it, or pick a system with a larger domain (--system)"
    elif dim == "pp" and size > model.layers:
        return "--pp", f"{size} stages for {model.layers} layers", f"use at most {model.layers}"
    elif dim == "cp" and (seq % size or (size > 1 and (seq // size) % 2)):
        return "--cp", f"{size} must divide the sequence length {seq} into even chunks", \
            "use a CP size that splits --seq into chunks of even length"
    elif dim == "ep" and size > 1:
        if model.moe is None:
            return "--ep", f"expert parallelism needs an MoE model; {model.name} is dense", "use --ep 1"
        if model.moe.experts % size:
            return "--ep", f"{size} does not divide the {model.moe.experts} experts", \
                f"use a divisor of {model.moe.experts}"
    return None


def batch_problem(global_batch: int, dp: int, micro_batch: int) -> tuple[str, str, str] | None:
    """Why the global batch does not split into ``dp`` replicas of whole microbatches, as (flag, reason, fix)."""
    if global_batch % (dp * micro_batch):
        return ("--global-batch", f"{global_batch} sequences is not a multiple of dp x micro-batch = {dp}x{micro_batch}",
                "change --global-batch, --dp or --micro-batch")
    return None


def check_parallelism(model: Model, p: Parallelism, *, chips: int, seq: int, global_batch: int,
                      scaleup_span: int, system_name: str = "") -> str | None:
    """Why a configuration is invalid (field: reason; fix), or None."""
    if min(p.tp, p.pp, p.dp, p.cp, p.ep, p.vp, p.micro_batch) < 1:
        return "parallelism: every size must be at least 1"
    if p.chips != chips:
        return (f"--chips: tp x pp x dp x cp = {p.tp}x{p.pp}x{p.dp}x{p.cp} = {p.chips}, not {chips}; "
                "choose sizes whose product is --chips (or leave --dp out to derive it)")
    if p.recompute not in RECOMPUTE:
        return f"--recompute: '{p.recompute}' is not one of {', '.join(RECOMPUTE)}"
    if not 0.0 < p.recompute_fraction <= 1.0:
        return "recompute_fraction: the share of layers recomputed must be in (0, 1]"
    if p.zero not in (0, 1, 2, 3):
        return "--zero: ZeRO stage must be 0, 1, 2 or 3"
    for dim in ("tp", "pp"):
        if bad := size_problem(model, dim, getattr(p, dim), seq=seq, scaleup_span=scaleup_span,
                               system_name=system_name):
            return "{}: {}; {}".format(*bad)
    # Megatron-Core can give the embedding and the loss a virtual stage each
    # (account_for_embedding/loss_in_pipeline_split): up to layers + 2 virtual stages
    if p.vp > 1 and (p.pp == 1 or p.pp * p.vp > model.layers + 2):
        return (f"--vp: interleaving needs pp > 1 and pp x vp at most the {model.layers} layers + 2 "
                "(embedding and loss stages)")
    for dim in ("cp", "ep"):
        if bad := size_problem(model, dim, getattr(p, dim), seq=seq, scaleup_span=scaleup_span):
            return "{}: {}; {}".format(*bad)
    if p.ep > 1:
        if p.etp is None and (p.dp * p.cp) % p.ep:
            return (f"--ep: {p.ep} must divide dp x cp = {p.dp * p.cp} (experts are sharded over data-parallel "
                    "ranks); or fold EP over TP too with --etp 1")
    if p.etp is not None:
        if model.moe is None and p.etp != p.tp:  # etp = tp is what a dense layout reports (to_dict)
            return "--etp: expert tensor parallelism needs an MoE model; drop --etp"
        if p.etp < 1 or p.tp % p.etp:
            return f"--etp: {p.etp} must divide tp = {p.tp}"
        if (p.tp * p.cp * p.dp) % (p.ep * p.etp):
            return (f"--etp: ep x etp = {p.ep}x{p.etp} must divide tp x cp x dp = {p.tp * p.cp * p.dp} "
                    "(the ranks the expert layers are folded over)")
    if bad := batch_problem(global_batch, p.dp, p.micro_batch):
        return "{}: {}; {}".format(*bad)
    m = global_batch // (p.dp * p.micro_batch)
    if p.vp > 1 and m < p.pp:
        # the interleaved schedule shortens the bubble only while every stage has a microbatch to work on
        # (Megatron asks for at least pp of them); with fewer it runs each microbatch through the stages in turn
        return (f"--vp: interleaving needs at least pp = {p.pp} microbatches per step, not {m} (global batch / "
                "(dp x micro-batch)); use --vp 1, a smaller --micro-batch or --dp, or a larger --global-batch")
    return None


def divisors(n: int) -> list[int]:
    out = set()
    i = 1
    while i * i <= n:
        if n % i == 0:
            out.add(i)
            out.add(n // i)
        i += 1
    return sorted(out)


def candidates(model: Model, *, chips: int, seq: int, global_batch: int, scaleup_span: int,
               fixed: dict[str, Any], pp_multiple_of: int = 1) -> list[Parallelism]:
    """Configurations to try: fixed sizes (and ``sp``, ``recompute_fraction``) as given, the others enumerated, dp
    derived from the chips. ``pp_multiple_of`` (the sites, when the pipeline spans them): stage counts that are its
    multiples are tried too (3 sites: 3, 6, 9, ...)."""
    pow2 = [1, 2, 4, 8, 16, 32, 64]

    def opts(name: str, default: list[Any]) -> list[Any]:
        return [fixed[name]] if fixed.get(name) is not None else default

    dom = scaleup_span
    tps = opts("tp", [t for t in pow2 if t <= dom and model.heads % t == 0 and chips % t == 0])
    # stage counts that divide the layers, and powers of two (uneven stages: the most loaded one sets the pace,
    # as Llama 3 405B's 126 layers on 16 stages)
    spans = [pp_multiple_of * k for k in range(1, 129)] if pp_multiple_of > 1 else []
    pps = opts("pp", sorted({d for d in divisors(model.layers) + [x for x in (*pow2, 128) if x <= model.layers]
                             + [x for x in spans if x <= model.layers]
                             if d <= 128 and chips % d == 0}))
    cps = opts("cp", [c for c in (1, 2, 4, 8, 16, 32) if seq % c == 0 and seq // c >= 1024] or [1])
    if model.moe is not None:
        eps = opts("ep", [x for x in divisors(model.moe.experts) if x <= 256])
    else:
        eps = opts("ep", [1])
    mbs = opts("micro_batch", [1, 2, 4, 8])
    rcs = opts("recompute", ["none", "selective", "full"])
    zs = opts("zero", [1, 2, 3])
    # settings that are not sizes hold for every configuration as given
    sp = fixed["sp"] if fixed.get("sp") is not None else True
    rf = fixed["recompute_fraction"] if fixed.get("recompute_fraction") is not None else 1.0
    out = []
    for tp in tps:
        for cp in cps:
            for pp in pps:
                rest = tp * cp * pp
                if chips % rest:
                    continue
                dp = chips // rest
                if fixed.get("dp") is not None and fixed["dp"] != dp:
                    continue
                vps = opts("vp", [v for v in (1, 2, 4, 8) if v == 1 or (pp > 1 and pp * v <= model.layers)])
                # expert TP: as given; else the dense layers' TP, and for MoE with TP > 1 also whole experts
                # (etp 1, EP folded over the TP ranks: Megatron-Core's MoE parallel folding)
                etps = [fixed.get("etp")] if fixed.get("etp") is not None else (
                    [None, 1] if model.moe is not None and tp > 1 else [None])
                for ep, etp in itertools.product(eps, etps):
                    if (dp * cp) % ep if etp is None else (tp % etp or (tp * cp * dp) % (ep * etp)):
                        continue
                    if etp == 1 and ep == 1 and fixed.get("etp") is None:
                        continue  # whole experts replicated on every TP rank: TP-fold expert memory, not searched
                    for mb in mbs:
                        if global_batch % (dp * mb):
                            continue
                        for vp in vps:
                            if vp > 1 and global_batch // (dp * mb) < pp and fixed.get("vp") is None:
                                continue  # interleaving needs at least pp microbatches (check_parallelism)
                            for rc in rcs:
                                for z in zs:
                                    out.append(Parallelism(tp, pp, dp, cp, ep, vp, mb, rc, z, sp=sp,
                                                           recompute_fraction=rf, etp=etp))
    return out
