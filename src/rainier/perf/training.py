"""Training step time, utilisation, memory, time/energy/cost to train, and the parallelism search.

One optimizer step of a transformer (dense or MoE) trained with TP (+ sequence parallelism), PP
(1F1B or interleaved), DP (ZeRO-0..3 / FSDP), CP (ring attention) and EP on ``chips`` accelerators::

    step = m * t_stage_max                      m = global_batch / (dp * micro_batch) microbatches
         + (pp - 1) / vp * t_stage_avg          pipeline bubble (Narayanan et al. 2021, Eq. 2 / Sec. 2.2)
         + pp_comm + dp_comm_exposed + optimizer

``t_stage`` is one microbatch's forward + backward (+ recomputation) through a stage's ``L/pp``
layers (the first stage also does the embedding, the last the logits and loss), including the
communication that sits on the critical path. With full recomputation of a share of the layers (the
search's partial recomputation, or a source's layer-selective checkpointing) only that share's forward
is redone. In a model with dense and MoE layers (DeepSeek-V3's first three dense) the most loaded
stage ``t_stage_max`` holds as many layers of the heavier kind as there are; the bubble uses the mean:

Backward GEMMs are timed as two GEMMs of their own shapes: the input gradient and the weight gradient,
whose output (the weight's shape) is accumulated in fp32 across microbatches (8 bytes per element read
and written; 2 with FSDP, which writes bf16 gradients and reduce-scatters them each microbatch). Small
token counts per GEMM (MoE experts, short microbatches) make the weight gradient memory-bound.

* TP: 2 all-reduces (or all-gather + reduce-scatter with SP) per layer in forward, 2 in backward,
  2 more in a fully recomputed forward, all **exposed** (not overlapped with GEMMs);
* EP: a dispatch and a combine all-to-all per MoE layer in forward and in backward, exposed; flat (one copy
  per routed expert, Megatron's NCCL dispatcher) or hierarchical (``moe_a2a="hierarchical"``: DeepEP /
  HybridEP send a token once to each other node holding one of its experts and fan it out over the scale-up
  links, ``node_dedup_share`` of the flat off-node bytes);
* CP: ring attention passes K/V (forward) and K/V + their gradients (backward) around the CP ring,
  **overlapped** with the attention compute of the chunk in hand: exposed = max(0, comm - attention);
* PP: one activation p2p per microbatch per virtual stage boundary forward and backward, exposed.

DP gradient synchronisation (bf16) **overlaps with the backward pass of the last microbatch** (all
but its last layer; ZeRO-2, which keeps no whole gradient buffer, reduce-scatters every microbatch's
gradients under that microbatch's backward), and the ZeRO-1/2 parameter all-gather with the forward of the next step's
first microbatch. ZeRO-3 / FSDP gathers weights in forward and backward and reduce-scatters gradients every
microbatch, overlapped with that microbatch's compute. The buffer moves in pieces, each a collective with its
own latency: one layer at a time under ZeRO-3 / FSDP, Megatron's buckets of max(40M, 1M x dp) parameters
otherwise (so flat FSDP over thousands of nodes is latency-bound: all-gather and reduce-scatter are rings,
``perf.collectives``). Only a share ``overlap_eff`` of the overlapped part
is hidden (``exposed``: comm - overlap_eff x min(comm, window)): on GPUs NCCL / RCCL run as kernels on the
SMs / CUs the compute needs, so overlapped compute slows; 1 - 20/132 there (DeepSeek-V3's report keeps IB
and NVLink saturated with 20 of an H800's 132 SMs), 1 on TPU and Trainium (dedicated collective engines).

**Host issue rate (MoE).** An eager PyTorch / Transformer Engine stack without CUDA graphs issues each
local expert's kernels (casts, GEMMs, activation; their backward) from the CPU one by one, and the
dispatcher's device-to-host sync of the token counts stops the host from running ahead of an MoE layer.
A layer's forward + backward therefore takes at least ``(experts / ep) x host_s_per_expert x
host_dispatch_factor`` (the per-expert time fitted on an x86 host, ``compute.EffParams``; the system's
factor, 1 for every catalog system: see the GB200 entry for why Grace is not set slower): the excess over the GPU time is
reported as ``host_overhead``. It binds where many local experts meet a fast GPU (DeepSeek-V3 with EP 8
on B200: 32 experts per GPU), as NVIDIA's DeepSeek-V3 / GB200 write-up describes ("host-bound"); zero for
compiled-graph stacks (TPU, Trainium) and off with ``Options(host_overhead=False)`` for a stack that
graphs the expert loop. A capacity factor (``moe_capacity_factor``: drop and pad, every slot computed) keeps
the bound although Megatron-Core's drop-and-pad dispatcher needs no such sync: the host still issues every
expert's kernels, and NVIDIA's token-drop runs (Megatron-Bridge 25.09, B200) sit between the two cases
(``scripts/check_nemo_tables.py``: 5-55% slower predicted with the bound, 28-59% faster without it).

Compute times come from ``rainier.perf.compute`` (roofline x fitted shape-dependent efficiency) on
the operations of ``rainier.perf.ops``; collectives from ``rainier.perf.collectives`` over the system's
hierarchical network (ranks ordered TP innermost, then CP, EP/DP, PP; with several sites the
cross-site dimension, DP by default, is outermost). Memory from ``rainier.perf.memory``.

**Across sites.** The dimension that spans the sites (``cross_site_dim``) must split evenly over them.
DP across sites reduces the gradients over the link once per step, the link shared by every chip of a
site. PP across sites puts whole stages in each site: at a site boundary the ``tp x cp x dp`` ranks send
every microbatch's activations (and receive their gradients) over the link at once, ``vp`` times per
pass with interleaving (the virtual stages alternate between the sites, so each direction carries
``2 vp - 1`` of a microbatch's transfers), and that boundary sets the pipeline's pace when slower than the
stages' own hand-offs: ``pp_comm = m max(2 vp t_p2p, (2 vp - 1) bytes / share + 2 latency)``. Per step PP moves
``tokens x hidden x 2 B x ~(2 vp - 1)`` across, DP ``~3x`` the gradient bytes: a plain 1F1B pipeline
split at the boundary wins on a thin link, an interleaved one may not.

Utilisation (Chowdhery et al. 2022, "PaLM", App. B): model FLOPs per token are
``6 N + 6 L a (d_qk + d_v) s`` (= ``6N + 12 L H Q T``), ``N`` the active parameters that do matrix
multiplies (all but the input embedding table; the logits projection counts), attention counted as
non-causal. **MFU** = model FLOPs / (step time x chips x dense peak at the training precision); HFU adds
the recomputed FLOPs. ``tflops_per_chip`` is model FLOP/s per chip.

Search (no or partial parallelism given): the space of ``rainier.perf.parallelism`` is filtered for
validity and memory, then evaluated in order of a lower bound (the most loaded stage's per-layer
compute and exposed TP/EP/CP communication, which every other term only adds to); the search stops
once the bound exceeds the k-th best step time (branch and bound; exact, tested against exhaustive).

Energy = chips x facility W per chip (``rainier.econ.power_chain``) x the economics load factor (average
draw / nameplate in training, 0.75 per Epoch AI) x time. Cost = owner's cost per chip-hour
(``rainier.econ.chip_hour_cost``) x chip-hours; the cloud price x chip-hours is reported beside it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from rainier.catalog.loader import Catalog, default_catalog
from rainier.catalog.params import param_counts
from rainier.catalog.schema import Accelerator, Model, System
from rainier.econ import energy_mwh, hourly_rates, power_chain
from rainier.errors import DoesNotFitError, RainierError
from rainier.perf import compute as C
from rainier.perf.collectives import Topology, collective_time_s, inner_members
from rainier.perf.goodput import Goodput, Resilience, checkpoint_state_bytes, goodput
from rainier.perf.memory import (
    MemoryBreakdown,
    model_state_bytes,
    params_per_chip,
    training_memory,
    usable_hbm_bytes,
)
from rainier.perf.ops import LayerOps, layer_ops, logits_ops
from rainier.perf.parallelism import Parallelism, batch_problem, candidates, check_parallelism, size_problem
from rainier.units import fmt_duration, fmt_gbps, fmt_share, fmt_si

__all__ = ["Parallelism", "Options", "TrainingResult", "estimate_training", "model_flops_per_token",
           "search_configs"]

_GB = 1e9

MAX_TRAIN_TOKENS = 1e18  # 1e18 tokens: ~70,000x the largest published run (15T); beyond is a typo


@dataclass(frozen=True)
class Options:
    """How the run is executed, beyond its parallelism (defaults: a current Megatron-Core-like stack)."""

    fused_attention: bool = True       # flash attention; False = unfused kernels (Megatron 2021-22)
    attention_kernel: str = "flash3"   # flash-attention class (compute.ATTENTION_KERNELS): "flash3" =
    #                                    the chip's own best (FA3/cuDNN/TE), "flash2" = Ampere-style kernels
    fused_elementwise: bool = True     # fused norm/rope/activation/loss kernels; False = eager PyTorch
    overlap_dp: bool = True            # DP grad reduce / param gather overlapped with compute
    recompute_fraction: float = 1.0    # share of layers fully recomputed under recompute="full"
    cross_site_dim: str = "dp"         # which dimension spans sites: "dp" or "pp"
    check_memory: bool = True          # reject configurations that do not fit in HBM
    overlap_ep: bool = False           # EP all-to-all hidden under another microbatch's compute (DualPipe)
    power_cap_w: float | None = None   # chip power cap below TDP: clocks (and compute peaks) scale as
    #                                    (cap / TDP)^(1/3) (dynamic power ~ V^2 f with V ~ f); HBM unchanged
    host_overhead: bool = True         # an MoE layer takes at least the host's time to issue its local
    #                                    experts' kernels (eager per-expert launches); False for a stack that
    #                                    captures the expert loop in CUDA graphs or a device-side grouped GEMM
    grad_dtype: str | None = None      # gradient buffer and its DP reduction: "fp32" (4 B), "bf16"/"fp16" (2 B);
    #                                    None = Megatron-LM's default: fp32 when training in bf16/fp8 (forced for
    #                                    bf16; FSDP2's default reduce_dtype too), the fp16 params' dtype in fp16;
    #                                    "bf16" for Megatron-Core grad_reduce_in_fp32=False (NVIDIA's perf recipes)
    moe_dispatch: str = "permute"      # MoE token routing: "permute" (sort + gather by expert; Megatron, MaxText
    #                                    sparse_matmul) or "einsum" (GShard one-hot dispatch/combine einsums with
    #                                    a capacity: MaxText's dropping path); see perf.ops
    optimizer_dtype: str = "fp32"      # Adam moments: "fp32" (12 B per parameter with the fp32 master) or "bf16"
    #                                    (6 B: bf16 moments, master = bf16 weights + 16-bit remainders; NeMo's
    #                                    distributed_fused_adam with dtype bf16)
    moe_a2a: str = "flat"              # EP all-to-all: "flat" (NCCL all-to-all, one copy per routed expert: Megatron's
    #                                    alltoall dispatcher) or "hierarchical" (DeepEP / HybridEP: one copy per
    #                                    destination node over the scale-out network, fanned out inside the node)
    moe_capacity_factor: float | None = None  # expert capacity as a multiple of the balanced load (tokens beyond
    #                                    it dropped, every slot computed); None = the model's (1.0: dropless)
    pp_inside_dp: bool = False         # rank order TP, CP, PP, DP (Megatron's --use-tp-pp-dp-mapping: pipeline
    #                                    stages neighbours, DP outermost) instead of the default TP, CP, DP, PP;
    #                                    a job whose DP spans sites is always laid out so
    params: C.EffParams | None = None  # efficiency parameters (None: the fitted family values)


_GRAD_BYTES = {"fp32": 4.0, "bf16": 2.0, "fp16": 2.0}
# optimizer state: (bytes held per parameter, bytes moved per parameter by the Adam step); fp32: master +
# m + v held (12 B), read p32, m, v, grad and write p32, m, v, p16 (30 B); bf16: remainders + m + v (6 B),
# read p16, remainder, m, v, grad and write them back but the grad (~18 B)
_OPT_STATE = {"fp32": (12.0, 30.0), "bf16": (6.0, 18.0)}


def node_dedup_share(experts: int, top_k: int, nodes: float) -> float:
    """Share of a flat all-to-all's off-node bytes a hierarchical dispatch sends (DeepEP, HybridEP).

    A flat dispatch sends a token once per routed expert: ``k (N-1)/N`` copies leave its node on average. A
    hierarchical one sends it once to each other node holding at least one of its experts, which then fans
    it out over the scale-up links: ``(N-1)(1 - P0)`` copies, ``P0`` the chance that none of the ``k`` experts
    (drawn without replacement from ``E``, balanced) lies on a given node of ``E/N``. Ratio ``N (1 - P0) / k``.
    """
    n = max(1.0, float(nodes))
    if n <= 1.0 or top_k <= 1:
        return 1.0
    per_node = experts / n
    p0 = 1.0
    for i in range(top_k):
        p0 *= max(0.0, (experts - per_node - i) / (experts - i))
    return min(1.0, n * (1.0 - p0) / top_k)


def exposed(comm: float, window: float, overlap_eff: float = 1.0) -> float:
    """Time a collective of ``comm`` seconds adds when it overlaps ``window`` seconds of compute.

    ``overlap_eff`` (``compute.EffParams``) is the share of the overlapped part that is hidden: 1 on a chip whose
    collectives run on dedicated DMA / collective engines (TPU, Trainium); below 1 on GPUs, where NCCL / RCCL
    run as kernels on the SMs / CUs and stream through HBM, slowing the compute they overlap, and where a
    bucketed reduce or gather cannot start before its bucket is ready.
    """
    return comm - overlap_eff * min(comm, window) if comm > 0.0 else 0.0


@dataclass
class TrainingResult:
    """What ``rainier train --json`` prints (all times in seconds, memory in GB)."""

    model: str
    chip: str
    system: str
    chips: int
    seq: int
    global_batch: int
    precision: str
    step_time_s: float
    tokens_per_s: float
    tokens_per_s_per_chip: float
    mfu: float
    hfu: float
    tflops_per_chip: float
    memory_gb_per_chip: float
    memory_gb_available: float
    memory_breakdown_gb: dict[str, float]
    parallelism: dict[str, Any]
    breakdown: dict[str, float]
    microbatches: int
    model_flops_per_step: float
    time_to_train_days: float | None
    tokens: float | None
    energy_mwh: float | None
    cost_usd: float | None
    cloud_cost_usd: float | None
    power_mw: float
    sites: int = 1
    efficiency_family: str = "default"
    # the error to expect: the efficiency fit's held-out published runs of this kind of model on this family
    # (compute.heldout_accuracy: rows, mape_pct, bias_pct, worst_pct, basis); None without a fit file
    accuracy: dict[str, Any] | None = None
    # the same on the published runs outside the validation table (compute.out_of_sample_accuracy: ``family``,
    # runs of this kind of model on this family; ``model``, every scored run of this model on any chip)
    accuracy_out_of_sample: dict[str, Any] | None = None
    # failures, checkpoints and restarts (perf.goodput.Goodput as a dict): the fraction of wall time that trains,
    # and with --tokens the time, energy and cost to train including the losses
    goodput: dict[str, Any] | None = None
    time_budget_days: float | None = None  # --time: the wall-clock budget that ``tokens`` is what trains in
    # with sites > 1: the same chips at one site, and the link that keeps the job within 5% / 1% of it
    # (cross_site_sensitivity)
    cross_site: dict[str, Any] | None = None
    # long context on NVIDIA (attention >= 20% of the model FLOPs): the same layout with the attention
    # backward at the kernels' own ratio (perf.validate_kernels) instead of the published runs' effective one
    attention_kernel_bound: dict[str, Any] | None = None
    alternatives: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------------------------------
# model FLOPs


def model_flops_per_token(model: Model, seq: int) -> float:
    """PaLM model FLOPs per token: ``6 N_matmul + 6 L a (d_qk + d_v) seq`` (non-causal attention; a
    sliding-window layer counts its window ``min(seq, W)`` instead of ``seq``)."""
    pc = param_counts(model)
    n = pc.active - pc.embedding + model.vocab * model.hidden
    e = model.moe
    if e is not None and e.capacity_factor < 1.0 and e.experts > e.top_k:
        # a capacity below the balanced load drops routed tokens: their expert FLOPs are not done, nor counted
        per_expert = (pc.moe_per_layer_total - pc.moe_per_layer_active) / (e.experts - e.top_k)
        n -= pc.moe_layers * e.top_k * per_expert * (1.0 - e.capacity_factor)
    return 6.0 * n + attention_flops_per_token(model, seq)


def attention_flops_per_token(model: Model, seq: int) -> float:
    """The attention part of ``model_flops_per_token``: ``6 L a (d_qk + d_v)`` x the keys attended (non-causal)."""
    if model.mla is not None:
        c = model.mla
        dqk, dv = c.qk_nope_head_dim + c.qk_rope_head_dim, c.v_head_dim
    else:
        dqk = dv = model.d_head
    return 6.0 * model.layers * model.heads * (dqk + dv) * model.attended_keys(seq, causal=False)


# --------------------------------------------------------------------------------------------------
# evaluation context (caches shared by every configuration of one question)


class _Ctx:
    def __init__(self, model: Model, acc: Accelerator, system: System, topo: Topology, *, seq: int,
                 global_batch: int, chips: int, precision: str, options: Options, catalog: Catalog):
        self.model, self.acc, self.system, self.topo = model, acc, system, topo
        self.seq, self.gb, self.chips, self.precision = seq, global_batch, chips, precision
        self.opt = options
        self.params = options.params or C.efficiency_params(acc.family)
        self.catalog = catalog
        self.pc = param_counts(model)
        self.moe_layers = model.moe_layer_count
        self.dense_layers = model.layers - self.moe_layers
        self.hbm_usable = usable_hbm_bytes(acc.hbm_bytes)
        self._layer: dict[tuple[Any, ...], tuple[float, ...]] = {}
        self._layer_base_cache: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self._wgrad_cache: dict[tuple[Any, ...], float] = {}
        self._bound: dict[tuple[Any, ...], tuple[float, float]] = {}  # _lower_bound's work per layer shape
        self._mixes: dict[tuple[int, int], set[tuple[int, int]]] = {}  # stage_mixes per (pp, vp)
        self._coll: dict[tuple[Any, ...], float] = {}
        self._mem: dict[tuple[Any, ...], MemoryBreakdown] = {}
        self._state: dict[tuple[Any, ...], float] = {}
        self._pchip: dict[tuple[int, int, int, int], tuple[float, float]] = {}
        self._ends: dict[tuple[Any, ...], tuple[float, float]] = {}
        self.gemm_prec = precision if precision in C.LOW_PRECISION and acc.supports(precision) else "bf16"
        self.peak = acc.peak_flops(self.gemm_prec)

    def coll(self, op: str, nbytes: float, group: int, stride: int, outer_scale: float = 1.0) -> float:
        key = (op, nbytes, group, stride, outer_scale)
        v = self._coll.get(key)
        if v is None:
            v = collective_time_s(self.topo, op, nbytes, group, stride, outer_scale)
            self._coll[key] = v
        return v

    def cross_site_share(self, senders: int) -> float:
        """Bytes/s per chip over the sites' link (per direction) while ``senders`` chips of a site send at
        once, each at most its own scale-out rate."""
        topo = self.topo
        nic = next(lv for lv in reversed(topo.levels) if lv.name != "cross-site").bw_bytes_s
        return min(float(topo.cross_site_bytes_s or nic) / max(1, senders), nic)

    @property
    def pp_inner(self) -> bool:
        """Pipeline stages inside the DP groups (rank order TP, CP, PP, DP): asked for, or DP spanning sites."""
        return self.opt.pp_inside_dp or (self.topo.sites > 1 and self.opt.cross_site_dim == "dp")

    def strides(self, p: Parallelism) -> dict[str, int]:
        """Rank distance between members of each group (TP innermost, then CP, DP, PP; see docstring)."""
        tp, cp, dp, pp = p.tp, p.cp, p.dp, p.pp
        # EP folded over TP (etp < tp) starts inside the TP group: its ranks are etp apart
        ep_s = p.expert_tp if p.expert_tp < tp else None
        if self.pp_inner:
            return {"tp": 1, "cp": tp, "ep": ep_s or tp * cp * pp, "dp": tp * cp * pp, "pp": tp * cp}
        return {"tp": 1, "cp": tp, "ep": ep_s or tp * cp, "dp": tp * cp, "pp": tp * cp * dp}

    def stage_mixes(self, pp: int, vp: int) -> set[tuple[int, int]]:
        """(MoE layers, dense layers) each pipeline stage holds: the model cut into chunks of
        ``ceil(L / (pp vp))`` layers, chunk ``j`` on stage ``j mod pp`` (Megatron's interleaved order); which layers
        have experts: :meth:`Model.is_moe_layer`."""
        key = (pp, vp)
        hit = self._mixes.get(key)
        if hit is None:
            L = self.model.layers
            c = math.ceil(L / (pp * vp))
            counts = [[0, 0] for _ in range(pp)]
            for i in range(L):
                counts[(i // c) % pp][0 if self.model.is_moe_layer(i) else 1] += 1
            hit = self._mixes[key] = {(a, b) for a, b in counts}
        return hit

    def _layer_base(self, p: Parallelism, moe: bool) -> tuple[Any, ...]:
        """The part of :meth:`layer` that depends on neither recomputation nor the ZeRO stage (the costly part:
        the layer's operations, their GEMM / attention / elementwise times and the TP / EP / CP collectives),
        cached per layer shape: (ops, forward GEMMs, backward input-gradient GEMMs, attention fwd, attention bwd,
        elementwise fwd, tp comm, ep comm, cp all-gather, MLA up-projections' time and FLOPs,
        forward FLOPs)."""
        key = (p.tp, p.cp, p.ep, p.micro_batch, p.sp, moe, p.pp if self.topo.sites > 1 or self.pp_inner else 0,
               p.expert_tp)
        hit = self._layer_base_cache.get(key)
        if hit is not None:
            return hit
        acc, par, opt = self.acc, self.params, self.opt
        ops = layer_ops(self.model, b=p.micro_batch, s=self.seq, tp=p.tp, cp=p.cp, ep=p.ep, sp=p.sp,
                        moe_layer=moe, fused_attention=opt.fused_attention,
                        fused_elementwise=opt.fused_elementwise, etp=p.expert_tp, moe_dispatch=opt.moe_dispatch)
        g_t = g_in = 0.0
        for g in ops.gemms:
            prec = "bf16" if g.name == "router" else self.gemm_prec
            g_t += C.gemm_time_s(acc, g.m, g.n, g.k, prec, g.batch, par)
            # backward: input gradient (m x n) @ (n x k); the weight gradient is in _wgrad (its output bytes
            # depend on the ZeRO stage)
            g_in += C.gemm_time_s(acc, g.m, g.k, g.n, prec, g.batch, par)
        if ops.attn_fused:
            fa = (acc, ops.attn_flops, ops.attn_bytes, ops.attn_q_len, ops.attn_head_dim, par, opt.attention_kernel)
            a_f = C.flash_attention_time_s(*fa)
            a_b = C.flash_attention_time_s(*fa, backward=True)
        else:
            a_f = sum(C.gemm_time_s(acc, g.m, g.n, g.k, "bf16", g.batch, par) for g in ops.attn_gemms)
            a_f += C.memory_time_s(acc, ops.attn_bytes, par)
            a_b = 2.0 * a_f
        ew = C.elementwise_time_s(acc, ops.elementwise_bytes, par)
        st = self.strides(p)
        tp_c = 0.0
        if p.tp > 1:
            # per layer forward, two blocks (attention, MLP): an all-reduce each, or with sequence parallelism an
            # all-gather before and a reduce-scatter after (the same bytes; four calls, rings only)
            one = (self.coll("all_gather", ops.tp_bytes, p.tp, st["tp"])
                   + self.coll("reduce_scatter", ops.tp_bytes, p.tp, st["tp"])) if p.sp \
                else self.coll("all_reduce", ops.tp_bytes, p.tp, st["tp"])
            tp_c = 2.0 * one
        ep_c = 0.0
        if moe and p.ep > 1 and self.model.moe is not None:
            scale = 1.0
            if opt.moe_a2a == "hierarchical":
                nodes = p.ep / inner_members(self.topo, p.ep, st["ep"])
                scale = node_dedup_share(self.model.moe.experts, self.model.moe.top_k, nodes)
            ep_c = 2.0 * self.coll("all_to_all", ops.ep_bytes, p.ep, st["ep"], scale)
        kv = self.coll("all_gather", ops.cp_kv_bytes * p.cp, p.cp, st["cp"]) if p.cp > 1 else 0.0
        ups_t = ups_f = 0.0
        if self.model.mla is not None:
            ups = [g for g in ops.gemms if g.name in ("q_up", "kv_up")]
            ups_t = sum(C.gemm_time_s(acc, g.m, g.n, g.k, self.gemm_prec, g.batch, par) for g in ups)
            ups_f = sum(g.flops for g in ups)
        hit = (ops, g_t, g_in, a_f, a_b, ew, tp_c, ep_c, kv, ups_t, ups_f, ops.gemm_flops + ops.attn_flops)
        self._layer_base_cache[key] = hit
        return hit

    def _wgrad(self, p: Parallelism, moe: bool, ops: LayerOps) -> float:
        """Backward weight-gradient GEMMs ``(k x m) @ (m x n)`` of one layer, one microbatch. Weight gradients
        accumulate into an fp32 buffer across microbatches (Megatron's gradient-accumulation fusion, TE's
        fuse_wgrad_accumulation: read + write 8 B per weight); FSDP writes bf16 gradients that it
        reduce-scatters every microbatch (2 B)."""
        key = (p.tp, p.cp, p.ep, p.micro_batch, p.sp, moe, p.expert_tp, p.zero >= 3)
        hit = self._wgrad_cache.get(key)
        if hit is None:
            wg_out = 2.0 if p.zero >= 3 else 8.0
            hit = 0.0
            for g in ops.gemms:
                prec = "bf16" if g.name == "router" else self.gemm_prec
                hit += C.gemm_time_s(self.acc, g.k, g.n, g.m, prec, g.batch, self.params, out_bytes=wg_out)
            self._wgrad_cache[key] = hit
        return hit

    def layer(self, p: Parallelism, moe: bool) -> tuple[float, ...]:
        """(fwd compute, bwd compute, attention fwd, recompute extra, tp comm fwd, ep comm fwd,
        cp comm exposed fwd, cp comm exposed bwd, flops fwd, recompute flops, host-bound excess) of one
        layer, one microbatch."""
        # TP, CP and EP groups' strides do not depend on dp, nor on pp in the default rank order at one site (see
        # strides(): with PP inside DP the EP stride is tp x cp x pp)
        key = (p.tp, p.cp, p.ep, p.micro_batch, p.sp, moe, p.recompute,
               p.pp if self.topo.sites > 1 or self.pp_inner else 0, p.zero >= 3, p.expert_tp)
        hit = self._layer.get(key)
        if hit is not None:
            return hit
        par, opt = self.params, self.opt
        ops, g_t, g_in, a_f, a_b, ew, tp_c, ep_c, kv, ups_t, ups_f, flops_fwd = self._layer_base(p, moe)
        fwd = g_t + a_f + ew
        bwd = g_in + self._wgrad(p, moe, ops) + a_b + 2.0 * ew
        if opt.overlap_ep and ep_c > 0:
            # DualPipe-style: a microbatch's dispatch/combine run under another's compute (fwd + bwd)
            ep_c = exposed(2.0 * ep_c, fwd + bwd) / 2.0
        cp_f = cp_b = 0.0
        if p.cp > 1:
            cp_f = exposed(kv, a_f)
            cp_b = exposed(2.0 * kv, a_b)
        if p.recompute == "full":
            # the recomputed forward's TP/EP collectives are counted with tp_comm / ep_comm
            # scaled by the share of layers recomputed in _evaluate (_rc_share)
            rc = fwd + cp_f
            rc_flops = flops_fwd
        elif p.recompute == "selective" and not ops.attn_fused:
            rc, rc_flops = a_f, ops.attn_flops
        elif p.recompute == "selective" and self.model.mla is not None:
            # MLA up-projections recomputed from the kept latents (see memory.activation_bytes_per_layer)
            rc, rc_flops = ups_t, ups_f
        else:
            rc, rc_flops = 0.0, 0.0
        host = 0.0
        if moe and opt.host_overhead and self.model.moe is not None and par.host_s_per_expert > 0:
            # the host issues each local expert's kernels one by one (eager PyTorch / TE, no CUDA graph);
            # when that takes longer than the GPU runs the layer, the GPU waits: the layer's forward +
            # backward take at least the host's time (an issue-rate bound, like a roofline's). The ring
            # attention's exposed K/V transfer is GPU-side time too (its stream waits on it, not on the host):
            # while the GPU waits for the host, the ring keeps moving, so it counts toward the host's time
            host_s = (self.model.moe.experts / p.ep) * par.host_s_per_expert * self.system.host_dispatch_factor
            host = max(0.0, host_s - (fwd + bwd + cp_f + cp_b))
        out = (fwd, bwd, a_f, rc, tp_c, ep_c, cp_f, cp_b, flops_fwd, rc_flops, host)
        self._layer[key] = out
        return out

    def ends(self, p: Parallelism) -> tuple[float, float]:
        """(embedding, logits + loss) time per microbatch, forward and backward, on the end stages."""
        key = (p.tp, p.cp, p.micro_batch, p.sp)
        hit = self._ends.get(key)
        if hit is None:
            acc, par, model = self.acc, self.params, self.model
            lg, ce_bytes = logits_ops(model, b=p.micro_batch, s=self.seq, tp=p.tp, cp=p.cp,
                                      fused_elementwise=self.opt.fused_elementwise)
            t_lg = 3.0 * C.gemm_time_s(acc, lg.m, lg.n, lg.k, "bf16", 1, par) + C.elementwise_time_s(acc, 2 * ce_bytes, par)
            t_emb = C.elementwise_time_s(
                acc, 3 * p.micro_batch * self.seq / p.cp * model.hidden * 2 / (p.tp if p.sp else 1), par)
            hit = (t_emb, t_lg)
            self._ends[key] = hit
        return hit

    def memory(self, p: Parallelism, m: int) -> MemoryBreakdown:
        key = (p, min(m, 2 * p.pp))  # in-flight chunks depend on m up to ~pp (1 + 1/vp)
        hit = self._mem.get(key)
        if hit is None:
            hit = training_memory(self.model, b=p.micro_batch, seq=self.seq, tp=p.tp, pp=p.pp, cp=p.cp,
                                  ep=p.ep, vp=p.vp, microbatches=m, recompute=p.recompute, zero=p.zero,
                                  dp=p.dp, sp=p.sp, precision=self.gemm_prec,
                                  fused_attention=self.opt.fused_attention, pc=self.pc,
                                  params_chip=_params_chip(self, p),
                                  recompute_fraction=self.opt.recompute_fraction * p.recompute_fraction,
                                  grad_bytes=_GRAD_BYTES[self.opt.grad_dtype or "fp32"],
                                  expert_dp=p.expert_dp, optimizer_bytes=_OPT_STATE[self.opt.optimizer_dtype][0])
            self._mem[key] = hit
        return hit


    def state_bytes(self, p: Parallelism) -> float:
        """Weights + gradients + optimizer state per chip: the part of :meth:`memory` that depends on
        neither the microbatch nor recomputation, a floor under its total."""
        key = (p.tp, p.pp, p.ep, p.expert_tp, p.dp, p.cp, p.zero)
        hit = self._state.get(key)
        if hit is None:
            dense, expert = _params_chip(self, p)
            w, g, o = model_state_bytes(dense, expert, zero=p.zero, dp_shard=p.dp * p.cp, ep=p.ep,
                                        precision=self.gemm_prec,
                                        gathered_params=2 * (dense + expert) / max(1.0, self.model.layers / p.pp),
                                        grad_bytes=_GRAD_BYTES[self.opt.grad_dtype or "fp32"], expert_dp=p.expert_dp,
                                        optimizer_bytes=_OPT_STATE[self.opt.optimizer_dtype][0])
            hit = self._state[key] = w + g + o
        return hit


@dataclass(frozen=True)
class _Eval:
    p: Parallelism
    step_s: float
    breakdown: dict[str, float]
    mem: MemoryBreakdown
    microbatches: int


def _evaluate(ctx: _Ctx, p: Parallelism) -> _Eval:
    """Step time and memory of one valid configuration (no validity checks here)."""
    model = ctx.model
    m = ctx.gb // (p.dp * p.micro_batch)
    L, pp = model.layers, p.pp
    d = ctx.layer(p, False) if ctx.dense_layers else None
    e = ctx.layer(p, True) if ctx.moe_layers else None

    keys = ("fwd", "bwd", "attn", "rc", "tp", "ep", "cpf", "cpb", "flops", "rcflops", "host")
    # per_layer["tp"] is the forward's two collectives; backward has two more, a recomputed forward two;
    # with full recomputation of a share rf of the layers, only that share's forward is redone
    rf = _rc_share(ctx, p)
    rcm = rf if p.recompute == "full" else 1.0

    def mix(w_moe: float, w_dense: float | None = None) -> dict[str, float]:
        """Per-layer values of a stretch of layers of which a share ``w_moe`` are MoE layers and ``w_dense``
        (default: the rest) dense ones."""
        wd = 1.0 - w_moe if w_dense is None else w_dense
        out = {k: wd * (d[i] if d else 0.0) + w_moe * (e[i] if e else 0.0) for i, k in enumerate(keys)}
        out["rc"] *= rcm
        return out

    def work(x: dict[str, float]) -> float:
        return x["fwd"] + x["bwd"] + x["rc"] + (x["tp"] + x["ep"]) * (2.0 + rf) + x["cpf"] + x["cpb"] + x["host"]

    per_layer = mix(ctx.moe_layers / L)
    # the most loaded stage: layers spread as evenly as possible over pp x vp virtual stages (chunks of
    # ceil(L / (pp vp)) layers, chunk j to stage j mod pp); in a model with dense and MoE layers, the stage
    # whose mix of the two is the heaviest
    lmax = math.ceil(L / (pp * p.vp)) * p.vp if pp > 1 else L
    stage = per_layer
    if pp > 1 and d and e:
        stage = max((mix(n_moe / lmax, n_dense / lmax) for n_moe, n_dense in ctx.stage_mixes(pp, p.vp)), key=work)
    # embedding and logits on the first / last stage
    t_emb, t_lg = ctx.ends(p)
    comp_layer = stage["fwd"] + stage["bwd"] + stage["rc"]
    tp_layer = stage["tp"] * (2.0 + rf)
    ep_layer = stage["ep"] * (2.0 + rf)
    cp_layer = stage["cpf"] + stage["cpb"]
    extra_first = t_emb
    extra_last = t_lg
    extra = extra_first + extra_last if pp == 1 else max(extra_first, extra_last)
    comp_max = lmax * comp_layer + extra
    t_avg = (L * work(per_layer) + extra_first + extra_last) / pp
    st = ctx.strides(p)
    bubble = (pp - 1) / p.vp * t_avg if pp > 1 else 0.0
    pp_comm = 0.0
    if pp > 1:
        # each TP rank sends 1/tp of the activations: sharded by sequence parallelism, or without it split and
        # all-gathered over the scale-up links on arrival (Megatron's scatter/gather optimisation, Narayanan et
        # al. 2021, Sec. 4.1; the all-gather over NVLink is small and not costed)
        act = p.micro_batch * ctx.seq / p.cp * model.hidden * 2.0 / p.tp
        # per microbatch: its activations forward and their gradients backward, vp times with interleaving
        per_mb = 2.0 * p.vp * ctx.coll("p2p", act, 2, st["pp"])
        if ctx.topo.sites > 1 and ctx.opt.cross_site_dim == "pp":
            # stages split over the sites: the ranks at a site boundary (tp x cp x dp of them, sending at
            # once) share the link. The virtual stages alternate between the sites, so each direction of the
            # link carries 2 vp - 1 of a microbatch's transfers (forward activations one way, backward
            # gradients the other; 1 each at vp = 1), both directions at once; the link's latency lies on
            # the microbatch's path once each way. That boundary sets the pipeline's pace when it is slower.
            share = ctx.cross_site_share(p.tp * p.cp * p.dp)
            x = (2.0 * p.vp - 1.0) * act / share + 2.0 * ctx.topo.cross_site_latency_s
            per_mb = max(per_mb, x)
        pp_comm = m * per_mb
    # DP gradient / parameter synchronisation
    dense_pc, expert_pc = _params_chip(ctx, p)
    dshard = p.dp * p.cp
    eshard = p.expert_dp
    dp_comm = 0.0
    # the windows DP collectives can hide under: the microbatch's compute, the time its layers wait on the
    # host (host-bound MoE: the GPU idles, the collective's kernels run), split like the compute, and the time
    # its attention waits on the ring's K/V (exposed CP: the DP stream is not the one waiting). A faster chip
    # moves time from compute into those waits; counting all three keeps it from growing the exposed DP time
    wait = stage["host"] / max(stage["fwd"] + stage["bwd"], 1e-30)
    fwd_mb = lmax * (stage["fwd"] * (1.0 + wait) + stage["cpf"])
    bwd_mb = lmax * (stage["bwd"] * (1.0 + wait) + stage["cpb"])
    if dshard > 1 or eshard > 1:
        gb = _GRAD_BYTES[ctx.opt.grad_dtype or "fp32"]

        # the buffer travels in pieces, each a collective of its own with its own latency: FSDP / ZeRO-3
        # gathers and reduces one layer at a time; Megatron's DP buckets hold max(40M, 1M x dp) parameters
        # (Megatron-Core DistributedDataParallelConfig.bucket_size), so their count falls as DP grows
        n_pieces = float(lmax) if p.zero >= 3 else \
            float(max(1, math.ceil((dense_pc + expert_pc) / max(40e6, 1e6 * dshard))))

        def sync(op: str) -> float:
            # the ZeRO group is cp x dp: hierarchically over CP (stride tp), then DP on 1/cp of the data;
            # gradients travel in their buffer's dtype, gathered parameters in bf16
            bpp = 2.0 if op == "all_gather" else gb
            nb = dense_pc * bpp / n_pieces
            t = ctx.coll(op, nb, p.cp, st["cp"]) if p.cp > 1 else 0.0
            t += ctx.coll(op, nb / p.cp, p.dp, st["dp"]) if p.dp > 1 else 0.0
            if p.cp > 1 and p.dp > 1:
                t -= ctx.topo.base_latency_s  # one call over the cp x dp group, costed in two stages
            if expert_pc and eshard > 1:
                t += ctx.coll(op, expert_pc * bpp / n_pieces, eshard, st["ep"] * p.ep)
            return n_pieces * t
        last_layer = 1.0 / max(1, lmax)
        eta = ctx.params.overlap_eff
        if p.zero >= 3:
            per_mb = 2.0 * sync("all_gather") + sync("reduce_scatter")
            window = (fwd_mb + bwd_mb) if ctx.opt.overlap_dp else 0.0
            dp_comm = m * exposed(per_mb, window, eta)
        else:
            grad = sync("all_reduce") if p.zero == 0 else sync("reduce_scatter")
            gather = 0.0 if p.zero == 0 else sync("all_gather")
            # ZeRO-2 keeps no whole gradient buffer: every microbatch's gradients are reduce-scattered
            # (under that microbatch's backward); ZeRO-0/1 accumulate locally and reduce once per step
            n_grad = m if p.zero == 2 else 1
            if ctx.opt.overlap_dp:
                dp_comm = n_grad * exposed(grad, bwd_mb * (1 - last_layer), eta) \
                    + exposed(gather, fwd_mb * (1 - last_layer), eta)
            else:
                dp_comm = n_grad * grad + gather
    # optimizer: read p32, m, v, grad; write p32, m, v, p16 on this chip's shard
    shard = dshard if p.zero >= 1 else 1
    opt_bytes = (dense_pc / shard + expert_pc / (eshard if p.zero >= 1 else 1)) * _OPT_STATE[ctx.opt.optimizer_dtype][1]
    t_opt = C.elementwise_time_s(ctx.acc, opt_bytes, ctx.params)
    compute = m * comp_max
    breakdown = {
        "compute": compute,
        "tp_comm": m * lmax * tp_layer,
        "cp_comm": m * lmax * cp_layer,
        "ep_comm": m * lmax * ep_layer,
        "host_overhead": m * lmax * stage["host"],
        "pp_comm": pp_comm,
        "dp_comm": dp_comm,
        "bubble": bubble,
        "optimizer": t_opt,
    }
    step = sum(breakdown.values())
    # recompute inside "compute" reported separately for insight (a part of compute, not added)
    breakdown["recompute_in_compute"] = m * lmax * stage["rc"]
    return _Eval(p, step, breakdown, ctx.memory(p, m), m)


def _rc_share(ctx: _Ctx, p: Parallelism, recompute_fraction: float | None = None) -> float:
    """Share of layers whose forward is recomputed: 0 unless ``recompute="full"`` (``recompute_fraction`` in
    place of ``p.recompute_fraction`` if given)."""
    if p.recompute != "full":
        return 0.0
    return ctx.opt.recompute_fraction * (p.recompute_fraction if recompute_fraction is None else recompute_fraction)


def _params_chip(ctx: _Ctx, p: Parallelism) -> tuple[float, float]:
    key = (p.tp, p.pp, p.ep, p.expert_tp)
    hit = ctx._pchip.get(key)
    if hit is None:
        hit = params_per_chip(ctx.model, tp=p.tp, pp=p.pp, ep=p.ep, pc=ctx.pc, etp=p.expert_tp)
        ctx._pchip[key] = hit
    return hit


# --------------------------------------------------------------------------------------------------
# search


def _check(ctx: _Ctx, p: Parallelism) -> str | None:
    why = check_parallelism(ctx.model, p, chips=ctx.chips, seq=ctx.seq, global_batch=ctx.gb,
                            scaleup_span=ctx.topo.scaleup_span, system_name=ctx.system.name)
    sites = ctx.topo.sites
    if why is None and sites > 1:
        # the dimension that spans the sites must split evenly over them (each site holds whole DP replicas,
        # or whole pipeline stages); otherwise the job would not cross the link the way it was asked to
        dim = ctx.opt.cross_site_dim
        size = p.dp if dim == "dp" else p.pp
        if size % sites:
            why = (f"--cross-site-dim: {dim}={size} cannot span {sites} sites; "
                   f"choose --{dim} a multiple of --sites (or the other --cross-site-dim)")
    return why


def _candidates(ctx: _Ctx, fixed: dict[str, Any]) -> list[Parallelism]:
    across = ctx.topo.sites if ctx.topo.sites > 1 and ctx.opt.cross_site_dim == "pp" else 1
    return candidates(ctx.model, chips=ctx.chips, seq=ctx.seq, global_batch=ctx.gb,
                      scaleup_span=ctx.topo.scaleup_span, fixed=fixed, pp_multiple_of=across)


_SIZES = ("tp", "pp", "dp", "cp", "ep", "etp", "vp", "micro_batch")


def _whole(value: Any, field: str, minimum: int = 1) -> int:
    """A whole number given as an int, an integral float / numpy number or its text; else a RainierError."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise RainierError(f"is not a number (got {value!r})", field=field, fix=f"give a whole number of at least {minimum}") from None
    if isinstance(value, bool) or not math.isfinite(x) or x != int(x) or x < minimum:
        raise RainierError(f"must be a whole number of at least {minimum} (got {value!r})", field=field,
                           fix=f"give a whole number of at least {minimum}")
    return int(x)


def _fixed_sizes(fixed: dict[str, Any]) -> dict[str, Any]:
    """The caller's fixed parallelism, checked and normalised (sizes as ints >= 1, zero 0-3, the share in (0, 1])."""
    out = dict(fixed)
    for k in _SIZES:
        if out.get(k) is not None:
            out[k] = _whole(out[k], f"--{k.replace('_', '-')}")
    if out.get("zero") is not None:
        out["zero"] = _whole(out["zero"], "--zero", minimum=0)
    rf = out.get("recompute_fraction")
    if rf is not None and not (isinstance(rf, (int, float)) and 0.0 < rf <= 1.0):
        raise RainierError(f"the share of layers recomputed must be in (0, 1] (got {rf!r})",
                           field="recompute_fraction", fix="e.g. 0.5, or leave it out")
    return out


def _check_fixed(ctx: _Ctx, fixed: dict[str, Any]) -> None:
    """Refuse, naming the flag, a fixed size that no configuration can use whatever the other sizes are (a TP
    that does not divide the heads, a size that does not divide the chips, ...), instead of the search's
    generic "no valid configuration" message. The per-size rules are ``check_parallelism``'s own
    (``parallelism.size_problem``)."""
    chips = ctx.chips
    if ctx.model.moe is None and fixed.get("etp") is not None and fixed["etp"] != fixed.get("tp"):
        # etp = tp is what a dense layout reports (Parallelism.to_dict), so a round-tripped layout passes; etp 1
        # (a no-op on a dense model) was dropped by estimate_training
        raise RainierError(f"expert tensor parallelism needs an MoE model; {ctx.model.name} is dense", field="--etp",
                           fix="drop --etp (or use --tp for tensor parallelism)")
    for dim in ("tp", "pp", "cp", "ep"):
        if fixed.get(dim) is not None and (bad := size_problem(
                ctx.model, dim, fixed[dim], seq=ctx.seq, scaleup_span=ctx.topo.scaleup_span,
                system_name=ctx.system.name)):
            raise RainierError(bad[1], field=bad[0], fix=bad[2])
    for k in ("tp", "pp", "dp", "cp"):
        v = fixed.get(k)
        if v is not None and chips % v:
            raise RainierError(f"{v} does not divide the {chips} chips", field=f"--{k}",
                               fix=f"use a divisor of --chips {chips}")
    sizes = {k: int(fixed[k]) for k in ("tp", "pp", "dp", "cp") if fixed.get(k) is not None}
    prod = math.prod(sizes.values())
    if chips % prod:
        raise RainierError(f"{' x '.join(f'{k} {v}' for k, v in sizes.items())} = {prod} "
                           f"does not divide the {chips} chips", field="parallelism",
                           fix="choose sizes whose product divides --chips")
    if len(sizes) == 4 and prod != chips:
        raise RainierError(f"{' x '.join(f'{k} {v}' for k, v in sizes.items())} = {prod}, not the {chips} chips",
                           field="parallelism", fix=f"choose sizes whose product is --chips {chips}, or leave one out "
                                                    "to be searched")
    if len(sizes) == 3 and "dp" not in sizes and ctx.gb < chips // prod:
        # every chip left over is data-parallel: dp = chips / (tp pp cp) sequences at least
        raise RainierError(f"{' x '.join(f'{k} {v}' for k, v in sizes.items())} leaves dp = {chips // prod} for the "
                           f"{chips} chips, more than the global batch of {ctx.gb} sequences", field="--global-batch",
                           fix=f"give --global-batch {chips // prod} or more, larger --tp/--pp/--cp, or fewer --chips")
    etp, tp_ = fixed.get("etp"), fixed.get("tp")
    if ctx.model.moe is not None and etp is not None and tp_ is not None and tp_ % etp:
        raise RainierError(f"--etp {etp} does not divide --tp {tp_}", field="--etp",
                           fix="use an expert TP that divides --tp (1 folds EP over the TP ranks)")
    dp, mb = fixed.get("dp"), fixed.get("micro_batch")
    if dp is not None and (bad := batch_problem(ctx.gb, dp, mb or 1)):
        raise RainierError(bad[1], field=bad[0], fix=bad[2])
    if mb is not None and ctx.gb % mb:
        raise RainierError(f"{mb} does not divide the global batch of {ctx.gb} sequences", field="--micro-batch",
                           fix="use a divisor of --global-batch")


def _lower_bound(ctx: _Ctx, p: Parallelism, m: int, recompute_fraction: float | None = None) -> float:
    """The most loaded stage's per-layer work (compute + exposed TP/EP/CP comm) for all microbatches:
    every other term of the step (ends, bubble, PP, DP, optimizer) is non-negative, so this bounds it.
    ``recompute_fraction`` stands in for ``p.recompute_fraction`` (the search bounds a "full" candidate as
    if it recomputed the fewest layers it can)."""
    L = ctx.model.layers
    key = (p.tp, p.cp, p.ep, p.micro_batch, p.sp, p.recompute, p.pp if ctx.topo.sites > 1 or ctx.pp_inner else 0,
           p.zero >= 3, p.expert_tp)
    ab = ctx._bound.get(key)
    if ab is None:
        # the work is a + rf x b, rf the share of layers recomputed (_rc_share: 0 unless "full"), so one
        # (a, b) per layer shape serves every share
        full = p.recompute == "full"
        a = b = 0.0
        for moe, n in ((False, ctx.dense_layers), (True, ctx.moe_layers)):
            if n:
                x = ctx.layer(p, moe)
                a += n * (x[0] + x[1] + 2.0 * (x[4] + x[5]) + x[6] + x[7] + x[10] + (0.0 if full else x[3]))
                b += n * (x[3] + x[4] + x[5]) if full else 0.0
        ab = ctx._bound[key] = (a, b)
    rf = _rc_share(ctx, p, recompute_fraction)
    lmax: float = math.ceil(L / (p.pp * p.vp)) * p.vp if p.pp > 1 else L
    if p.pp > 1 and ctx.dense_layers and ctx.moe_layers:
        # dense and MoE layers: the busiest stage (_evaluate's stage_mixes) holds at least the average stage's
        # work, which lmax average layers can exceed when the layers do not divide evenly
        lmax = L / p.pp
    return m * lmax * (ab[0] + rf * ab[1]) / L


def _least_recompute(ctx: _Ctx, p: Parallelism, m: int) -> Parallelism | None:
    """``p`` (full recompute, fits) with the fewest layers per virtual stage recomputed that still fit;
    None when no recomputation is needed. Memory is linear in the share, so one solve and a check."""
    lv = math.ceil(ctx.model.layers / (p.pp * p.vp)) if p.pp > 1 else ctx.model.layers
    zero_rc = ctx.memory(replace(p, recompute="selective"), m).total
    if zero_rc <= ctx.hbm_usable:
        return None
    full = ctx.memory(p, m).total
    if lv <= 1 or zero_rc <= full:
        return p
    k = max(1, math.ceil(lv * (zero_rc - ctx.hbm_usable) / (zero_rc - full) - 1e-9))
    while k < lv:
        q = replace(p, recompute_fraction=k / lv)
        if ctx.memory(q, m).total <= ctx.hbm_usable:
            return q
        k += 1
    return p


def _leanest(ctx: _Ctx, p: Parallelism, mem: MemoryBreakdown) -> str:
    return (f"memory: even the leanest configuration needs {mem.total / _GB:.1f} GB of {ctx.hbm_usable / _GB:.1f} GB "
            f"usable per chip (tp={p.tp}, pp={p.pp}, dp={p.dp}, cp={p.cp}, ep={p.ep}, recompute={p.recompute}, "
            f"zero={p.zero})")


def search_configs(ctx: _Ctx, fixed: dict[str, Any], top: int = 1) -> tuple[list[_Eval], list[str]]:
    """All valid, fitting configurations, fastest first (at most ``max(top, 1)`` returned)."""
    best: list[_Eval] = []
    reasons: list[str] = []
    least = (float("inf"), "")
    bound = float("inf")
    cands = _candidates(ctx, fixed)
    # with recomputation searched, "full" may recompute only as many layers as memory needs (Megatron's
    # --recompute-method block --recompute-num-layers k per virtual stage), as a tuned run does
    partial = fixed.get("recompute") is None and fixed.get("recompute_fraction") is None \
        and ctx.opt.recompute_fraction == 1.0
    # Branch and bound: every valid configuration gets its compute-only lower bound (cheap, cached per
    # layer shape); configurations are then taken in order of that bound, and memory (the costlier
    # check) and the full step time are computed only until the bound alone is slower than the k-th
    # best step time found. A "full" candidate that may recompute fewer layers is bounded as if it
    # recomputed one layer per virtual stage, the least it can: the bound grows with the share.
    k = max(top, 1)
    pending: list[tuple[float, Parallelism, int]] = []
    over: list[tuple[Parallelism, int]] = []
    checked: dict[tuple[Any, ...], str | None] = {}
    for p in cands:
        # the candidates' recompute and ZeRO values are the generator's valid ones or the caller's (the same
        # for all): a layout's check holds for all its recompute / ZeRO variants
        ck = (p.tp, p.pp, p.dp, p.cp, p.ep, p.vp, p.micro_batch, p.etp)
        if ck in checked:
            why = checked[ck]
        else:
            why = checked[ck] = _check(ctx, p)
        if why:
            if len(reasons) < 3:
                reasons.append(why)
            continue
        m = ctx.gb // (p.dp * p.micro_batch)
        if ctx.opt.check_memory and ctx.state_bytes(p) > ctx.hbm_usable:
            over.append((p, m))  # cannot fit whatever its activations: only looked at if nothing fits
            continue
        lb_rf = None
        if partial and p.recompute == "full":
            lv = math.ceil(ctx.model.layers / (p.pp * p.vp)) if p.pp > 1 else ctx.model.layers
            lb_rf = 1.0 / lv
        pending.append((_lower_bound(ctx, p, m, lb_rf), p, m))
    pending.sort(key=lambda x: x[0])
    for lb, p, m in pending:
        if len(best) >= k and lb >= bound:
            break
        mem = ctx.memory(p, m)
        if partial and p.recompute == "full" and ctx.opt.check_memory and mem.total <= ctx.hbm_usable:
            q = _least_recompute(ctx, p, m)
            if q is None:
                continue  # nothing needs recomputing: the selective candidate covers it
            p, mem = q, ctx.memory(q, m)
        if ctx.opt.check_memory and mem.total > ctx.hbm_usable:
            if mem.total < least[0]:
                least = (mem.total, _leanest(ctx, p, mem))
            continue
        best.append(_evaluate(ctx, p))
        if len(best) >= k:
            best.sort(key=lambda x: x.step_s)
            del best[k:]
            bound = best[-1].step_s
    if not best:
        for p, m in over:
            mem = ctx.memory(p, m)
            if mem.total < least[0]:
                least = (mem.total, _leanest(ctx, p, mem))
    best.sort(key=lambda x: x.step_s)
    if least[1]:
        reasons.insert(0, least[1])
    return best[: max(top, 1)], reasons


# --------------------------------------------------------------------------------------------------
# public entry point


def _resolve(cat: Catalog, model: Model | str, chip: Accelerator | str, system: System | str | None
             ) -> tuple[Model, Accelerator, System]:
    m = model if isinstance(model, Model) else cat.model(model)
    a = chip if isinstance(chip, Accelerator) else cat.accelerator(chip)
    if isinstance(system, System):
        s = system
    else:
        s = cat.system_for(a, system)
    return m, a, s


# tokens a step beyond which a note says --global-batch counts sequences (published batches reach ~60M tokens)
_BATCH_TOKENS_NOTE = 1e9


def estimate_training(model: Model | str, chip: Accelerator | str, chips: int, *, seq: int, global_batch: int,
                      parallelism: Parallelism | dict[str, Any] | None = None, precision: str = "bf16",
                      tokens: float | None = None, sites: int = 1, cross_site_gbps: float | None = None,
                      system: System | str | None = None, catalog: Catalog | None = None, top: int = 1,
                      options: Options | None = None, resilience: Resilience | None = None,
                      time_s: float | None = None, cross_site_report: bool = True) -> TrainingResult:
    """Step time, utilisation, memory, time/energy/cost to train (see the module docstring).

    ``parallelism``: a full :class:`Parallelism`, or a dict of the sizes to fix (``tp``, ``pp``, ``dp``,
    ``cp``, ``ep``, ``vp``, ``micro_batch``, ``recompute``, ``zero``; missing ones are searched), or None
    to search everything. ``top`` > 1 also returns the next-fastest configurations as ``alternatives``.
    ``resilience``: failures and checkpoints (perf.goodput; None = the catalog's defaults, async checkpoints
    at the goodput-optimal interval) for the ``goodput`` block. ``time_s`` (instead of ``tokens``): a wall-clock
    budget; ``tokens`` becomes what the job trains in it with failures (``goodput.time_to_train_days`` = the
    budget), the failure-free figures those tokens' (``time_budget_days`` set). With ``sites`` > 1 and
    ``cross_site_report``, ``cross_site`` compares the job with the same chips at one site
    (:func:`cross_site_sensitivity`).
    Raises :class:`RainierError` naming the field when nothing valid fits.
    """
    cat = catalog or default_catalog()
    resilience = resilience or Resilience()
    resilience.check()
    mdl, acc, sysm = _resolve(cat, model, chip, system)
    if isinstance(parallelism, dict) and mdl.moe is None and parallelism.get("etp") == 1:
        # a dense model has no experts to split: etp 1 is a no-op, like ep 1
        parallelism = {k: v for k, v in parallelism.items() if k != "etp"}
    chips = _whole(chips, "--chips")
    seq = _whole(seq, "--seq")
    global_batch = _whole(global_batch, "--global-batch")
    sites = _whole(sites, "--sites")
    top = _whole(top, "--top")
    if precision not in ("bf16", "fp16", "fp8", "fp4"):
        raise RainierError(f"unsupported training precision '{precision}'", field="--precision",
                           fix="use bf16, fp16 (mixed precision with loss scaling: bf16 rates, fp16 gradients), fp8 "
                               "or fp4 (NVFP4-style recipe: linear-layer GEMMs in 4 bit)")
    if precision in C.LOW_PRECISION and precision not in acc.peak_tflops:
        alt = "fp8 or bf16" if precision == "fp4" and "fp8" in acc.peak_tflops else "bf16"
        raise RainierError(f"{acc.name} has no {precision} rate", field="--precision", fix=f"use --precision {alt}")
    if mdl.learned_pos_emb and seq > mdl.max_seq:
        raise RainierError(f"{mdl.name} has learned position embeddings for {mdl.max_seq:,} positions, not {seq:,}",
                           field="--seq", fix=f"give --seq {mdl.max_seq} or less, or a model file with a larger "
                                              "max_seq (a table that long is trained from scratch)")
    if sites == 1 and cross_site_gbps is not None:
        raise RainierError("a cross-site link needs a job across sites", field="--cross-site-gbps",
                           fix="give --sites 2 or more, or drop --cross-site-gbps")
    if time_s is not None:
        if tokens is not None:
            raise RainierError("give a token count or a time budget, not both", field="--time",
                               fix="drop --tokens to ask what the job trains in --time, or drop --time")
        if not (isinstance(time_s, (int, float)) and 0 < time_s < math.inf):
            raise RainierError(f"must be a positive, finite duration (got {time_s!r})", field="--time",
                               fix="e.g. --time 30d")
    if tokens is not None:
        try:
            tokens = float(tokens)
        except (TypeError, ValueError):
            tokens = math.nan
        if not 1 <= tokens <= MAX_TRAIN_TOKENS:
            raise RainierError(f"must be a number of tokens from 1 to {MAX_TRAIN_TOKENS:.0e} (got {tokens:g})",
                               field="--tokens", fix="e.g. --tokens 15T, or omit it")
    if sites > 1 and chips % sites:
        raise RainierError(f"{chips} chips do not split evenly over {sites} sites", field="--sites",
                           fix="choose --chips divisible by --sites")
    if sites > 1 and chips // sites < sysm.chips:
        raise RainierError(f"{chips} chips over {sites} sites leave {chips // sites} per site, less than one "
                           f"{sysm.name} ({sysm.chips} chips)", field="--sites",
                           fix=f"give at least {sites * sysm.chips} chips, or fewer --sites")
    opt = options or Options()
    if not 0.0 < opt.recompute_fraction <= 1.0:
        raise RainierError(f"the share of layers recomputed must be in (0, 1] (got {opt.recompute_fraction})",
                           field="recompute_fraction", fix="e.g. Options(recompute_fraction=0.5), or leave it at 1")
    if opt.power_cap_w is not None and not 0.0 < opt.power_cap_w < math.inf:
        raise RainierError(f"the chip power cap must be a positive number of watts (got {opt.power_cap_w})",
                           field="power_cap_w", fix=f"e.g. Options(power_cap_w={acc.tdp_w * 0.8:g}), or None for TDP")
    if opt.attention_kernel not in C.ATTENTION_KERNEL_CLASSES:
        raise RainierError(f"unknown attention kernel '{opt.attention_kernel}'", field="--attention-kernel",
                           fix="use flash3 (FA3/cuDNN class) or flash2 (FlashAttention-2 class)")
    if opt.grad_dtype is None:
        opt = replace(opt, grad_dtype="fp16" if precision == "fp16" else "fp32")
    if opt.moe_dispatch not in ("permute", "einsum"):
        raise RainierError(f"unknown MoE dispatch '{opt.moe_dispatch}'", field="--moe-dispatch",
                           fix="use permute (sort and gather by expert) or einsum (GShard one-hot einsums)")
    if opt.optimizer_dtype not in _OPT_STATE:
        raise RainierError(f"unknown optimizer state dtype '{opt.optimizer_dtype}'", field="--optimizer-dtype",
                           fix="use fp32 (fp32 master and Adam moments) or bf16 (bf16 moments, master remainders)")
    if opt.moe_a2a not in ("flat", "hierarchical"):
        raise RainierError(f"unknown MoE all-to-all '{opt.moe_a2a}'", field="--moe-a2a",
                           fix="use flat (NCCL all-to-all) or hierarchical (DeepEP / HybridEP: once per node)")
    if mdl.moe is None:
        # MoE-only settings on a dense model would be silently ignored (as --ep is refused)
        for flag, given in (("--moe-a2a", opt.moe_a2a != "flat"), ("--moe-dispatch", opt.moe_dispatch != "permute"),
                            ("--moe-capacity-factor", opt.moe_capacity_factor is not None),
                            ("--overlap-ep", opt.overlap_ep)):
            if given:
                raise RainierError(f"{mdl.name} is a dense model (no experts)", field=flag,
                                   fix="drop it, or choose an MoE model")
    if opt.moe_capacity_factor is not None:
        if not (opt.moe_capacity_factor > 0 and math.isfinite(opt.moe_capacity_factor)):
            raise RainierError(f"MoE capacity factor must be a positive finite number (got {opt.moe_capacity_factor})",
                               field="--moe-capacity-factor", fix="e.g. --moe-capacity-factor 1.25, or omit it")
        if mdl.moe is not None:
            mdl = mdl.model_copy(update={"moe": mdl.moe.model_copy(
                update={"capacity_factor": float(opt.moe_capacity_factor)})})
    if opt.grad_dtype not in _GRAD_BYTES:
        raise RainierError(f"unknown gradient dtype '{opt.grad_dtype}'", field="--grad-dtype",
                           fix="use fp32 (fp32 gradient buffer and reduction) or bf16")
    if opt.power_cap_w is not None and opt.power_cap_w < acc.tdp_w:
        f = (opt.power_cap_w / acc.tdp_w) ** (1.0 / 3.0)
        upd: dict[str, Any] = {"peak_tflops": {k: v * f for k, v in acc.peak_tflops.items()},
                               "tdp_w": float(opt.power_cap_w)}
        if acc.exp_tera_per_s:  # the special-function units run at the same (lowered) clock
            upd["exp_tera_per_s"] = acc.exp_tera_per_s * f
        # the capped chips draw the cap: the system's power (hence energy) falls by the difference per chip
        sysm = sysm.model_copy(update={"system_power_w": max(sysm.system_power_w - sysm.chips * (acc.tdp_w - opt.power_cap_w),
                                                             sysm.chips * opt.power_cap_w)})
        acc = acc.model_copy(update=upd)
    if opt.cross_site_dim not in ("dp", "pp"):
        raise RainierError(f"'{opt.cross_site_dim}' cannot span sites", field="--cross-site-dim", fix="use dp or pp")
    if sites > 1:
        dim = opt.cross_site_dim
        fixed_size = parallelism.get(dim) if isinstance(parallelism, dict) else getattr(parallelism, dim, None)
        if fixed_size is not None and int(fixed_size) % sites:
            raise RainierError(f"{dim}={fixed_size} cannot span {sites} sites", field="--cross-site-dim",
                               fix=f"choose --{dim} a multiple of --sites, or --cross-site-dim "
                                   f"{'pp' if dim == 'dp' else 'dp'}")
    topo = Topology.from_system(sysm, cat, sites=sites, cross_site_gbps=cross_site_gbps, chips=chips)
    ctx = _Ctx(mdl, acc, sysm, topo, seq=int(seq), global_batch=int(global_batch), chips=chips,
               precision=precision, options=opt, catalog=cat)  # fp16 runs at the bf16 rates, reported as fp16
    if isinstance(parallelism, Parallelism):
        why = _check(ctx, parallelism)
        if why:
            raise RainierError(why)
        m = ctx.gb // (parallelism.dp * parallelism.micro_batch)
        mem = ctx.memory(parallelism, m)
        if opt.check_memory and mem.total > ctx.hbm_usable:
            g = mem.gb()
            raise DoesNotFitError(
                f"does not fit: needs {mem.total / _GB:.1f} GB per chip, {ctx.hbm_usable / _GB:.1f} GB usable of "
                f"{acc.hbm_bytes / _GB:.0f} GB on {acc.name} (weights {g['weights']:.1f}, gradients {g['gradients']:.1f}, "
                f"optimizer {g['optimizer']:.1f}, activations {g['activations'] + g['logits']:.1f} GB)",
                field="memory",
                fix="raise --tp/--pp, use --zero 1-3, --recompute full, a smaller --micro-batch, or more chips")
        evals = [_evaluate(ctx, parallelism)]
        reasons: list[str] = []
    else:
        fixed = dict(parallelism or {})
        unknown = set(fixed) - set(Parallelism.__dataclass_fields__)
        if unknown:
            raise RainierError(f"unknown parallelism field(s) {sorted(unknown)}", field="parallelism",
                               fix="use tp, pp, dp, cp, ep, etp, vp, micro_batch, recompute, zero, sp, "
                                   "recompute_fraction")
        fixed = _fixed_sizes(fixed)
        _check_fixed(ctx, fixed)
        # twice as many (and two) spare: duplicates (selective = no recomputation under flash attention; about every
        # other layout) are dropped from the list; with sites, the report on the link compares the best few layouts
        evals, reasons = search_configs(ctx, fixed, max(2 * top + 2 if top > 1 else 1,
                                                        _CROSS_SITE_LAYOUTS if sites > 1 and cross_site_report else 1))
        if not evals:
            why = reasons[0] if reasons else (
                f"no tp x pp x cp x dp = {chips} with tp dividing the {mdl.heads} heads within the scale-up "
                f"domain, pp dividing the {mdl.layers} layers (or a power of two below them) and dp dividing the global batch of {global_batch}"
                + (f", ep {fixed['ep']} dividing dp x cp (--etp 1 folds EP over the TP ranks too)"
                   if fixed.get("ep", 1) > 1 and fixed.get("etp") is None else "")
                + (f", etp {fixed['etp']} dividing tp and ep x etp dividing tp x cp x dp"
                   if fixed.get("etp") is not None else ""))
            kind = DoesNotFitError if why.startswith("memory:") else RainierError
            raise kind(f"no valid configuration fits: {why}", field="parallelism",
                       fix="try more chips, another --global-batch, or fix fewer sizes")
    res = _result(ctx, evals, tokens=tokens, resilience=resilience, time_s=time_s)
    del res.alternatives[top - 1:]
    tok_step = float(global_batch) * float(seq)
    if tok_step > _BATCH_TOKENS_NOTE:
        # batches are often quoted in tokens (Llama 3 405B: 16M): the flag counts sequences
        res.notes.append(f"--global-batch is in sequences: {int(global_batch):,} sequences of {int(seq):,} tokens are "
                         f"{tok_step:,.3g} tokens a step ({res.step_time_s:,.3g} s); a batch of {int(global_batch):,} "
                         f"tokens would be --global-batch {max(1, round(int(global_batch) / int(seq))):,}")
    if top > 1 and len(res.alternatives) < top - 1:
        res.notes.append(f"--top {top}: {len(res.alternatives)} other layout(s) are valid" + (
            " with the sizes given (leave some of --tp/--pp/--dp/--cp/--ep/--micro-batch/--recompute/--zero out to "
            "search more)" if parallelism else ""))
    res.attention_kernel_bound = _attention_kernel_bound(ctx, evals[0], res)
    if res.attention_kernel_bound:
        b = res.attention_kernel_bound
        res.notes.append(
            f"long context: attention is {b['attention_flop_share']:.0%} of the model FLOPs; its backward is priced at "
            f"the published long-context runs' ratio ({b['attn_bwd_ratio_fitted']:g} of the forward's efficiency); the "
            f"kernels alone run it at {b['attn_bwd_ratio_kernel']:g} (H100, rainier validate kernels): a stack whose "
            f"step is the sum of its kernels would step in {fmt_duration(b['step_time_s'])} "
            f"({b['speedup'] - 1:.0%} faster; attention_kernel_bound)")
    if sites > 1 and cross_site_report:
        res.cross_site = cross_site_sensitivity(
            res, mdl, acc, sysm, seq=int(seq), global_batch=int(global_batch), precision=precision,
            cross_site_gbps=float(cross_site_gbps or 0.0), catalog=cat, options=opt,
            fixed=None if isinstance(parallelism, Parallelism) else _fixed_sizes(dict(parallelism or {})),
            layouts=[ev.p for ev in evals[:_CROSS_SITE_LAYOUTS]])
        res.notes.append(_cross_site_note(res.cross_site))
    return res


ATTENTION_BOUND_SHARE = 0.2  # attention share of the model FLOPs above which attention_kernel_bound is reported


def _attention_kernel_bound(ctx: _Ctx, best: _Eval, res: TrainingResult) -> dict[str, Any] | None:
    """The chosen layout re-priced with flash attention's backward at the measured kernels' ratio (see
    ``TrainingResult.attention_kernel_bound``); None off NVIDIA, with caller parameters, unfused attention or
    attention under ``ATTENTION_BOUND_SHARE`` of the model FLOPs."""
    mdl = ctx.model
    if ctx.opt.params is not None or not ctx.acc.family.startswith("nvidia-") or not ctx.opt.fused_attention:
        return None
    share = attention_flops_per_token(mdl, ctx.seq) / model_flops_per_token(mdl, ctx.seq)
    if share < ATTENTION_BOUND_SHARE:
        return None
    from rainier.perf.validate_kernels import kernel_attn_bwd_ratio

    ratio = kernel_attn_bwd_ratio()
    if ratio <= ctx.params.attn_bwd_ratio:
        return None
    alt = _Ctx(mdl, ctx.acc, ctx.system, ctx.topo, seq=ctx.seq, global_batch=ctx.gb, chips=ctx.chips,
               precision=ctx.precision, catalog=ctx.catalog,
               options=replace(ctx.opt, params=ctx.params.with_(attn_bwd_ratio=ratio)))
    step = _evaluate(alt, best.p).step_s
    return {"attention_flop_share": share, "attn_bwd_ratio_fitted": ctx.params.attn_bwd_ratio,
            "attn_bwd_ratio_kernel": ratio, "step_time_s": step,
            "tokens_per_s": ctx.gb * ctx.seq / step, "speedup": res.step_time_s / step}


_CROSS_SITE_LAYOUTS = 6  # layouts of each search (at the given link, at one site) the link thresholds consider


def cross_site_sensitivity(res: TrainingResult, model: Model, acc: Accelerator, system: System, *, seq: int,
                           global_batch: int, precision: str, cross_site_gbps: float, catalog: Catalog,
                           options: Options, fixed: dict[str, Any] | None, layouts: list[Parallelism] | None = None,
                           within: tuple[float, ...] = (0.05, 0.01)) -> dict[str, Any]:
    """How much the link between sites costs a job: the same chips at one site (searched, with the sizes the
    caller fixed), the slowdown at the given link, and for each tolerance in ``within`` the least link
    capacity (Gbit/s, per direction) at which the job runs within it of one site.

    The step time never rises with link capacity, so each threshold is found by bisection (in log capacity,
    to 0.1%) for each candidate layout, keeping the least: the best few of the search at the given link
    (``layouts``; else the chosen one) and of the one-site search whose spanning dimension splits over the
    sites (the layouts a search moves to as the link grows). A layout outside those might need less: the
    figure is an upper bound on the least capacity, and may shift a little with the link the search was
    given. None where even an unlimited link leaves every candidate more than the tolerance slower (the
    link's latency, or layouts worse than one site's best at any bandwidth)."""
    sites = res.sites
    # the same chips at one site, in either rank order: a job split with DP across the link keeps each pipeline
    # inside a site (TP, CP, PP, DP), which one site can do too (the default order puts PP outermost)
    ones = [estimate_training(model, acc, res.chips, seq=seq, global_batch=global_batch, precision=precision,
                              parallelism=fixed, system=system, catalog=catalog,
                              options=replace(options, pp_inside_dp=inner), sites=1, top=_CROSS_SITE_LAYOUTS)
            for inner in (False, True)]
    one = min(ones, key=lambda r: r.step_time_s)
    t1 = one.step_time_s
    lo_g, hi_g = 1e-3, 1e9  # Gbit/s: 1 Mbit/s to 1 Ebit/s
    cands = list(layouts or [Parallelism(**res.parallelism)])
    for alt in [r.parallelism for r in ones] + [a["parallelism"] for r in ones for a in r.alternatives]:
        p = Parallelism(**alt)
        if getattr(p, options.cross_site_dim) % sites == 0 and p not in cands:
            cands.append(p)
    layouts = cands

    def step(p: Parallelism, gbps: float) -> float:
        try:
            return estimate_training(model, acc, res.chips, seq=seq, global_batch=global_batch, precision=precision,
                                     parallelism=p, system=system, catalog=catalog, options=options, sites=sites,
                                     cross_site_gbps=gbps, cross_site_report=False).step_time_s
        except RainierError:
            return math.inf

    unlimited = min(step(p, hi_g) for p in layouts)
    need: dict[str, float | None] = {}
    for tol in within:
        target = t1 * (1.0 + tol)
        best: float | None = None
        for p in layouts:
            top_g = hi_g if best is None else best
            if step(p, top_g) > target:
                continue  # not within the tolerance over any link the candidates so far need
            if step(p, lo_g) <= target:
                best = lo_g
                break
            a, b = math.log(lo_g), math.log(top_g)
            while b - a > 1e-3:
                mid = 0.5 * (a + b)
                a, b = (a, mid) if step(p, math.exp(mid)) <= target else (mid, b)
            g = math.exp(b)
            best = g if best is None else min(best, g)
        need[f"{tol:.0%}"] = best
    return {
        "sites": sites,
        "dim": options.cross_site_dim,
        "gbps": cross_site_gbps,
        "step_time_s": res.step_time_s,
        "one_site_step_time_s": t1,
        "one_site_parallelism": one.parallelism,
        "one_site_rank_order": "tp-cp-pp-dp" if one is ones[1] else "tp-cp-dp-pp",  # (min keeps the default on a tie)
        "slowdown": res.step_time_s / t1 - 1.0,
        # the best layout over an unlimited link: what the link's latency alone costs
        "slowdown_unlimited_link": unlimited / t1 - 1.0,
        "latency_ms": Topology.from_system(system, catalog, sites=sites, cross_site_gbps=hi_g).cross_site_latency_s * 1e3,
        "gbps_within": need,  # at most this much is needed (see the docstring)
        "layouts_considered": len(layouts),
    }


def _cross_site_note(c: dict[str, Any]) -> str:
    parts = [f"within {k} of one site with {fmt_gbps(v)}" if v is not None else f"never within {k}"
             for k, v in c["gbps_within"].items()]
    return (f"across {c['sites']} sites ({c['dim'].upper()} spans the link) at {fmt_gbps(c['gbps'])}: "
            f"{c['slowdown']:+.1%} step time against the same chips at one site; " + ", ".join(parts)
            + f" (link capacity per direction); over an unlimited link the {c['latency_ms']:g} ms latency alone costs "
            f"{c['slowdown_unlimited_link']:+.1%}")


def _result(ctx: _Ctx, evals: list[_Eval], *, tokens: float | None, resilience: Resilience,
            time_s: float | None = None) -> TrainingResult:
    best = evals[0]
    model, acc = ctx.model, ctx.acc
    tok_step = ctx.gb * ctx.seq
    step = best.step_s
    tps = tok_step / step
    mflops = model_flops_per_token(model, ctx.seq) * tok_step
    hw_extra = _recompute_flops(ctx, best)
    if model.moe is not None and model.moe.capacity_factor > 1.0:
        # drop-and-pad experts compute every capacity slot in forward and backward (the recomputed forward's
        # are in hw_extra already): the hardware FLOPs beyond the routed tokens' own (a capacity below 1 drops
        # tokens, which the model FLOPs already leave out)
        e = model.moe
        mats = 3 if model.ffn_type == "swiglu" else 2
        per_tok = 2.0 * e.top_k * mats * model.hidden * e.expert_ffn_hidden * param_counts(model).moe_layers
        hw_extra += 3.0 * (e.capacity_factor - 1.0) * per_tok * tok_step
    mfu = mflops / (step * ctx.chips * ctx.peak)
    hfu = (mflops + hw_extra) / (step * ctx.chips * ctx.peak)
    econ = ctx.catalog.economics()
    state = checkpoint_state_bytes(param_counts(model).total, _OPT_STATE[ctx.opt.optimizer_dtype][0])
    if time_s is not None:
        # the tokens a wall-clock budget trains with failures: goodput depends (weakly) on the job's length,
        # so fix the point work = budget x goodput(work)
        frac = 1.0
        for _ in range(50):
            nxt = goodput(chips=ctx.chips, econ=econ, res=resilience, work_s=time_s * frac, state_bytes=state).fraction
            if nxt <= 0.0 or abs(nxt - frac) < 1e-12:
                frac = nxt
                break
            frac = nxt
        if frac <= 0.0:
            raise RainierError("the job makes no progress under failures in that time", field="--time",
                               fix="fewer chips, --failure-scale lower, or a faster --restart-time")
        if time_s * frac < step:
            raise RainierError(f"the budget trains less than one step ({fmt_duration(step)} per step of "
                               f"{tok_step:,.0f} tokens{', with failures' if frac < 0.99 else ''})", field="--time",
                               fix=f"give --time above {fmt_duration(step / frac)}, or a smaller --global-batch")
        tokens = tps * time_s * frac
    chain = power_chain(acc, ctx.system, econ)
    power_w = ctx.chips * chain.facility_w * econ.load_factor
    ttt_days = energy = cost = cloud = None
    if tokens:
        # whole optimizer steps: a token target that is not a multiple of the batch takes one more step
        secs = math.ceil(tokens / tok_step - 1e-9) * step if time_s is None else tokens / tps
        ttt_days = secs / 86400
        energy = energy_mwh(power_w, secs)
        owner_h, cloud_h = hourly_rates(acc, ctx.system, econ)
        cost = owner_h * ctx.chips * secs / 3600 if owner_h is not None else None
        cloud = cloud_h * ctx.chips * secs / 3600 if cloud_h else None
    gp = goodput(chips=ctx.chips, econ=econ, res=resilience, work_s=tokens / tps if tokens else None, state_bytes=state)
    if tokens and gp.fraction > 0.0:
        # the chips are held through lost work and restarts: wall time, cost and (an upper bound: restarts drawn
        # at the training draw) energy scale by 1 / goodput
        g = 1.0 / gp.fraction
        gp = replace(gp, time_to_train_days=ttt_days * g if ttt_days is not None else None,
                     expected_interruptions=gp.interruptions_per_day * (ttt_days or 0.0) * g,
                     energy_mwh=energy * g if energy is not None else None,
                     cost_usd=cost * g if cost is not None else None, cloud_cost_usd=cloud * g if cloud is not None else None)
    notes = [
        "MFU: PaLM definition (6N + 12LHQT per token, non-causal attention) over dense peak at "
        f"{ctx.gemm_prec}; HFU adds recomputation",
        f"energy: facility power x load factor {econ.load_factor:g} (average draw / nameplate in training)",
        _goodput_note(gp, resilience.failure_scale),
    ]
    if ctx.seq > model.max_seq:
        notes.append(f"context: {ctx.seq:,} tokens is longer than {model.name}'s max_seq of {model.max_seq:,} (the "
                     "catalog's trained sequence length): a context extension, costed here like any sequence")
    counted = param_counts(model).total / 1e9
    if model.published_params_b and abs(counted / model.published_params_b - 1.0) > 0.05:
        # (the catalog's own models are within 2%, a test checks; a user's file may have a dimension wrong)
        notes.append(f"parameters: {model.name}'s dimensions give {counted:,.1f}B, not the {model.published_params_b:g}B "
                     "it states as published: check its layers, hidden, ffn_hidden, heads and vocab")
    # the fit's held-out error describes the shipped parameters, not parameters the caller passed in
    accuracy = C.heldout_accuracy(acc.family, model.moe is not None) if ctx.opt.params is None else None
    if accuracy:
        notes.append(f"accuracy: {accuracy['basis']} (rainier validate training): MAPE {accuracy['mape_pct']:g}% over "
                     f"{accuracy['rows']} runs, throughput bias {accuracy['bias_pct']:+g}% (negative: predicted "
                     f"slower than measured), worst {accuracy['worst_pct']:+g}%")
    oos = (C.out_of_sample_accuracy(acc.family, model.moe is not None, model.name)
           if ctx.opt.params is None else None)
    notes += _out_of_sample_notes(oos, model.name)
    if not ctx.params.fitted:
        prior_from = C.load_fits().get("families", {}).get(acc.family, {}).get("prior_from")
        src = f"the {prior_from} fit" if prior_from else "the default prior"
        notes.append(f"efficiency: no measured runs for family '{acc.family}'; {src} used (see perf/fits/efficiency.json)")
    if ctx.gemm_prec == "fp4":
        fp4, fp8 = acc.peak_tflops.get("fp4", 0.0), acc.peak_tflops.get("fp8", 0.0)
        notes.append(f"fp4: linear-layer GEMMs at {fp4:g} TFLOP/s x fp4_ratio {ctx.params.fp4_ratio:g} (NVFP4-style "
                     "recipe; attention and the rest as in fp8)"
                     + (f"; this chip's fp4 rate is no faster than its fp8 rate ({fp8:g}): fp8 is the faster choice"
                        if fp4 <= fp8 else ""))
    gd = ctx.opt.grad_dtype or "fp32"
    notes.append(f"gradients: {gd} buffer ({_GRAD_BYTES[gd]:g} B per parameter), reduced in {gd} (--grad-dtype); "
                 f"Adam state {ctx.opt.optimizer_dtype}, {_OPT_STATE[ctx.opt.optimizer_dtype][0]:g} B per parameter "
                 "(--optimizer-dtype)")
    if best.breakdown.get("dp_comm", 0.0) > 0 or best.p.dp * best.p.cp > 1:
        notes.append(f"data parallel: collectives overlapped with compute hide {ctx.params.overlap_eff:.0%} of the "
                     "overlapped time (GPUs: NCCL/RCCL share the SMs; TPU/Trainium: dedicated engines)")
    if model.moe is not None and best.p.ep > 1:
        notes.append(f"expert all-to-all: {ctx.opt.moe_a2a} (--moe-a2a; hierarchical = DeepEP/HybridEP, once per node)")
    overlap = []
    if best.p.tp > 1:
        overlap.append("TP collectives exposed (on the critical path: TP/SP communication overlap is not modelled)")
    if best.p.cp > 1:
        overlap.append("CP key/value exchange hidden under the attention it feeds, the excess exposed")
    if model.moe is not None and best.p.ep > 1:
        overlap.append("EP all-to-all hidden under another microbatch's compute (DualPipe-style)" if ctx.opt.overlap_ep
                       else "EP all-to-all exposed (--overlap-ep, Options(overlap_ep=True): DualPipe-style hiding)")
    if best.p.pp > 1:
        overlap.append("PP sends exposed on each microbatch's path, the bubble on top")
    if not ctx.opt.overlap_dp and best.p.dp * best.p.cp > 1:
        overlap.append("DP reduction after the last backward, not overlapped (Options(overlap_dp=False))")
    if overlap:
        notes.append("overlap: " + "; ".join(overlap))
    host = best.breakdown.get("host_overhead", 0.0)
    if host > 0 and model.moe is not None:
        notes.append(
            f"host-bound: MoE layers wait {host / step:.0%} of the step for the host to issue "
            f"{model.moe.experts // best.p.ep} local experts' kernels one by one (eager PyTorch, "
            f"{ctx.params.host_s_per_expert * 1e3:.2f} ms per expert per layer x host factor "
            f"{ctx.system.host_dispatch_factor:g}); a larger EP, CUDA graphs or a device-side grouped GEMM avoid it "
            "(--no-host-overhead models such a stack)")
    alts = []
    seen = {(round(best.step_s, 12), round(best.mem.total, 3))}
    for ev in evals[1:]:
        sig = (round(ev.step_s, 12), round(ev.mem.total, 3))
        if sig in seen and ev.p.recompute == "selective":
            continue  # selective recomputation under flash attention is no recomputation: the same run again
        seen.add(sig)
        alts.append({"parallelism": ev.p.to_dict(), "step_time_s": ev.step_s,
                     "tokens_per_s": tok_step / ev.step_s,
                     "mfu": mflops / (ev.step_s * ctx.chips * ctx.peak),
                     "memory_gb_per_chip": ev.mem.total / _GB, "breakdown": ev.breakdown})
    return TrainingResult(
        model=model.name, chip=acc.name, system=ctx.system.name, chips=ctx.chips, seq=ctx.seq,
        global_batch=ctx.gb, precision=ctx.precision, step_time_s=step, tokens_per_s=tps,
        tokens_per_s_per_chip=tps / ctx.chips, mfu=mfu, hfu=hfu,
        tflops_per_chip=mflops / step / ctx.chips / 1e12, memory_gb_per_chip=best.mem.total / _GB,
        memory_gb_available=ctx.hbm_usable / _GB, memory_breakdown_gb=best.mem.gb(),
        parallelism=best.p.to_dict(), breakdown=dict(best.breakdown), microbatches=best.microbatches,
        model_flops_per_step=mflops, time_to_train_days=ttt_days, tokens=tokens, energy_mwh=energy,
        cost_usd=cost, cloud_cost_usd=cloud, power_mw=power_w / 1e6, sites=ctx.topo.sites,
        efficiency_family=ctx.params.family, accuracy=accuracy, accuracy_out_of_sample=oos, goodput=gp.to_dict(), alternatives=alts, notes=notes,
        time_budget_days=time_s / 86400 if time_s is not None else None,
    )


# a model whose scored runs are this far off on average, the same way, says so (its own cost, not the chip's);
# a model's own record is shown from this many scored runs on (fewer say little beyond the family's record)
MODEL_BIAS_WARN_PCT = 25.0
MODEL_MIN_RUNS = 3


def _out_of_sample_notes(oos: dict[str, Any] | None, model: str) -> list[str]:
    """The accuracy notes of the published runs outside the validation table (compute.out_of_sample_accuracy)."""
    if not oos:
        return []
    out = []
    fam = oos.get("family")
    if fam:
        out.append(f"accuracy, out of sample: {fam['basis']} (scripts/score_out_of_sample.py): MAPE {fam['mape_pct']:g}% "
                   f"over {fam['rows']} runs, bias {fam['bias_pct']:+g}%, worst {fam['worst_pct']:+g}%, "
                   f"{fam['within_25_pct']:g}% of runs within 25%")
    mod = oos.get("model")
    if mod and mod["rows"] >= MODEL_MIN_RUNS:
        line = (f"accuracy, this model: {mod['rows']} published runs of {model} scored without fitting on them "
                f"({', '.join(mod['families'])}): MAPE {mod['mape_pct']:g}%, bias {mod['bias_pct']:+g}%, worst "
                f"{mod['worst_pct']:+g}%")
        signs = {b > 0 for b in mod.get("bias_by_family_pct", {}).values()}
        if abs(mod["bias_pct"]) >= MODEL_BIAS_WARN_PCT and signs == {mod["bias_pct"] > 0}:
            fast = mod["bias_pct"] > 0
            line += (f"; predicted {'faster' if fast else 'slower'} than measured on each of its "
                     f"{len(mod['bias_by_family_pct'])} chip families: a {'cost' if fast else 'saving'} of this model "
                     f"that rainier does not capture, so read this estimate as an {'upper' if fast else 'lower'} "
                     "bound on its throughput")
        out.append(line)
    return out


def _goodput_note(gp: Goodput, scale: float) -> str:
    flags = "(--checkpoint, --checkpoint-interval, --restart-time, --failure-scale, --checkpoint-bandwidth)"
    size = fmt_si(gp.checkpoint_gb * 1e9, "B")
    if gp.checkpoints == 0 and gp.checkpoint_interval_s is not None:
        ckpt = f"no checkpoint within the run (one every {fmt_duration(gp.checkpoint_interval_s)} of training)"
    elif gp.checkpoint_interval_s is None:
        ckpt = "no checkpoint (the job is shorter than the best interval)" if gp.mtti_hours is not None else ""
    else:
        ckpt = (f"{gp.checkpoint} checkpoints of {size} every {fmt_duration(gp.checkpoint_interval_s)} of training"
                + (" (the best interval)" if gp.interval_optimal else "")
                + f", {fmt_duration(gp.checkpoint_stall_s)} stall each")
    if gp.mtti_hours is None:
        return "goodput: no failures" + (f"; {fmt_share(gp.fraction)} of wall time trains, the rest {ckpt}"
                                         if gp.fraction < 1.0 else "") + f" {flags}"
    rate = "catalog rate per chip-hour x chips" + (f" x {scale:g}" if scale != 1.0 else "")
    text = (f"goodput: {fmt_share(gp.fraction)} of wall time trains: an interruption every "
            f"{fmt_duration(gp.mtti_hours * 3600)} ({rate}), {ckpt}, {fmt_duration(gp.restart_s)} per restart "
            f"(checkpoint read at {fmt_si(gp.storage_gb_per_s * 1e9, 'B/s')} included) {flags}")
    if gp.fraction < 0.5:
        text += ("; below 50%: the job restarts more than it trains; a synchronous job this large needs fault "
                 "isolation (elastic data parallelism, hot spares, in-memory checkpoints), fewer chips or a lower rate")
    return text


def _recompute_flops(ctx: _Ctx, ev: _Eval) -> float:
    """Extra FLOPs per step done by recomputation (whole job)."""
    p = ev.p
    rcm = _rc_share(ctx, p) if p.recompute == "full" else 1.0
    tot = 0.0
    for moe, n in ((False, ctx.dense_layers), (True, ctx.moe_layers)):
        if n:
            lay = ctx.layer(p, moe)
            tot += n * lay[9] * rcm
    # per-chip per-microbatch flops x chips in a model replica (tp*cp) x microbatches x dp
    return tot * p.tp * p.cp * ev.microbatches * p.dp

