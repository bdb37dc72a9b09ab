"""Schemas of catalog entries: accelerators, systems, networks, sites, models, economics.

The catalog is data (YAML); these pydantic models only validate it and expose SI-unit views.
Figures are stored in the units their sources print (TFLOP/s, GB, TB/s, GB/s, Gbit/s, W, MW) with
the unit in the field name; properties convert to SI (FLOP/s, bytes, bytes/s, W) for the models.

Every entry carries a ``source`` (where its figures come from), optional ``field_sources`` (a source
per figure where it differs from the entry's), and ``estimated`` (the figures that are estimates or
projections rather than published values; ``estimated: true`` marks the whole entry).
"""

from __future__ import annotations

import math
import re
import typing
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

__all__ = [
    "Entry",
    "Accelerator",
    "ScaleUpTier",
    "ScaleOut",
    "System",
    "Network",
    "Site",
    "MoE",
    "MLA",
    "Model",
    "Economics",
    "KINDS",
    "PRECISIONS",
]

Precision = Literal["fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8"]
PRECISIONS: tuple[str, ...] = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4", "int8")


NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._+-]*$"  # a catalog entry's name (and its file-free CLI spelling)


# No figure of a real chip, system, site or model reaches this in its unit (TFLOP/s, GB/s, W, $, MW, tokens): a
# larger number is a typo or an attack on the arithmetic (1e300 GiB of HBM made the KV capacity NaN)
MAX_FIGURE = 1e15


def _check_magnitudes(obj: BaseModel, prefix: str = "") -> None:
    """Every number in ``obj`` (nested models, dicts, tuples) at most MAX_FIGURE in magnitude."""
    def walk(v: object, where: str) -> None:
        if isinstance(v, bool):
            return
        if isinstance(v, (int, float)):
            if abs(v) > MAX_FIGURE:
                raise ValueError(f"{where}: {float(v):.3g} is beyond any real figure (at most {MAX_FIGURE:.0e} in its "
                                 "unit); check the value and its unit")
        elif isinstance(v, BaseModel):
            for k in type(v).model_fields:
                walk(getattr(v, k), f"{where}.{k}" if where else k)
        elif isinstance(v, dict):
            for k, x in v.items():
                walk(x, f"{where}.{k}" if where else str(k))
        elif isinstance(v, (tuple, list)):
            for i, x in enumerate(v):
                walk(x, f"{where}.{i}" if where else str(i))
    walk(obj, prefix)


def _allows_bool(ann: Any) -> bool:
    if ann is bool or ann is Any or (isinstance(ann, type) and issubclass(ann, BaseModel)):
        return True  # (a nested model checks its own fields)
    return any(_allows_bool(a) for a in typing.get_args(ann))


def _holds_bool(v: Any) -> bool:
    if isinstance(v, bool):
        return True
    if isinstance(v, dict):
        return any(_holds_bool(x) for x in v.values())
    if isinstance(v, (list, tuple)):
        return any(_holds_bool(x) for x in v)
    return False


class _NoBool(BaseModel):
    """YAML ``true`` / ``false`` in a numeric field (``hbm_tbps: true``) is an error, not the number 1 / 0 that
    pydantic's lax mode would read."""

    @field_validator("*", mode="before")
    @classmethod
    def _no_bool(cls, v: Any, info: ValidationInfo) -> Any:
        if _holds_bool(v) and info.field_name is not None \
                and not _allows_bool(cls.model_fields[info.field_name].annotation):
            raise ValueError("must be a number or text, not true/false")
        return v


class Entry(_NoBool):
    """Fields every catalog entry has. Numbers must be finite (no .inf / .nan) and at most MAX_FIGURE."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str = Field(min_length=1, pattern=NAME_PATTERN)
    display_name: str | None = None
    aliases: tuple[str, ...] = ()
    source: str = Field(min_length=3)
    field_sources: dict[str, str] = Field(default_factory=dict)
    estimated: bool | tuple[str, ...] = False
    notes: str | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.name

    def is_estimate(self, field: str | None = None) -> bool:
        if self.estimated is True:
            return True
        if self.estimated is False:
            return False
        return field is None or field in self.estimated

    @model_validator(mode="after")
    def _known_fields(self) -> Entry:
        _check_magnitudes(self)
        names = set(type(self).model_fields)
        for f in self.field_sources:
            if f not in names:
                raise ValueError(f"field_sources names '{f}', which is not a field of this entry")
        if isinstance(self.estimated, tuple):
            for f in self.estimated:
                if f not in names:
                    raise ValueError(f"estimated names '{f}', which is not a field of this entry")
        return self


def _positive(v: float | None, what: str) -> float | None:
    if v is not None and (not math.isfinite(v) or v <= 0):
        raise ValueError(f"{what} must be a positive number (got {v})")
    return v


class Accelerator(Entry):
    """One accelerator chip (a GPU, a Trainium, a TPU): dense peaks, memory, links, power, price."""

    vendor: str
    family: str = Field(description="efficiency-curve family, e.g. nvidia-hopper, trainium2, tpu")
    launch_year: int = Field(ge=2015, le=2035)
    peak_tflops: dict[Precision, float] = Field(description="dense peak TFLOP/s by precision")
    hbm_gb: float | None = None
    hbm_gib: float | None = None
    hbm_tbps: float = Field(gt=0, description="HBM bandwidth, TB/s")
    sram_mb: float | None = None
    scaleup_gbytes_s: float | None = Field(None, description="scale-up link bandwidth per chip, GB/s, as published "
                                                             "(documentation: the system's scale-up tiers time the "
                                                             "collectives)")
    scaleup_direction: Literal["bidirectional", "unidirectional", "aggregate"] = "bidirectional"
    scaleout_gbits_s: float | None = Field(None, description="scale-out NIC bandwidth per chip, Gbit/s per direction "
                                                             "(documentation: the system's scaleout entry times them)")
    tdp_w: float = Field(gt=0)
    price_usd_per_chip_hour: float | None = None
    price_basis: Literal["on-demand", "capacity-block", "neocloud", "estimate"] | None = Field(
        None, description="what price_usd_per_chip_hour is: a cloud's on-demand list price, an EC2 Capacity Block "
                          "(reserved) price, a neocloud's rental, or an estimate; comparisons say when they mix bases")
    capex_usd: float | None = Field(None, description="system capex per chip incl. its share of server and network")
    default_system: str | None = None
    systolic_dim: int | None = Field(
        None, ge=8,
        description="side of the chip's systolic matrix unit (a TPU MXU, Trainium's tensor engine); a matmul whose "
                    "contraction or output dimension is smaller (attention's head dimension) uses only that share of "
                    "it. None for GPUs (tensor-core tiles)")
    exp_tera_per_s: float | None = Field(
        None, gt=0,
        description="exponential (softmax) throughput of the chip's special-function units, 10^12 per second; "
                    "sets how flash attention's efficiency falls with smaller head dims (rainier.perf.compute). "
                    "None where unpublished (the FlashAttention-3 head-dim curve is used)")
    attention_fwd_eff: float | None = Field(
        None, gt=0, le=1,
        description="published flash-attention forward efficiency of this chip (fraction of dense bf16 peak, "
                    "causal, head dim 128), overriding its family's kernel table in rainier.perf.compute")

    @field_validator("peak_tflops")
    @classmethod
    def _peaks(cls, v: dict[str, float]) -> dict[str, float]:
        if "bf16" not in v:
            raise ValueError("peak_tflops needs a bf16 figure")
        for k, x in v.items():
            _positive(x, f"peak_tflops.{k}")
        # a narrower format never runs slower than the wider one it halves (a chip without a faster unit lists the
        # same figure): a step timed at the wider rate but divided by a smaller narrow peak gave MFU above 100%
        for narrow, wide in (("fp8", "bf16"), ("fp4", "fp8"), ("fp4", "bf16")):
            if narrow in v and wide in v and v[narrow] < v[wide]:
                raise ValueError(f"peak_tflops.{narrow} ({v[narrow]:g}) is below peak_tflops.{wide} ({v[wide]:g}): "
                                 f"give {narrow} at least the {wide} figure (the same where the chip has no faster "
                                 f"{narrow} unit)")
        return v

    @model_validator(mode="after")
    def _memory(self) -> Accelerator:
        if (self.hbm_gb is None) == (self.hbm_gib is None):
            raise ValueError("give exactly one of hbm_gb or hbm_gib")
        _positive(self.hbm_gb or self.hbm_gib, "hbm")
        for f in ("scaleup_gbytes_s", "scaleout_gbits_s", "price_usd_per_chip_hour", "capex_usd", "sram_mb"):
            _positive(getattr(self, f), f)
        if self.price_basis is not None and self.price_usd_per_chip_hour is None:
            raise ValueError("price_basis describes price_usd_per_chip_hour, which is not given: give the price or drop "
                             "the basis")
        return self

    # --- SI views -------------------------------------------------------------------------------
    def peak_flops(self, precision: str = "bf16") -> float:
        """Dense peak FLOP/s at a precision; falls back to the nearest wider precision listed."""
        order = ["fp4", "fp8", "int8", "bf16", "fp16", "tf32", "fp32"]
        p = "bf16" if precision == "fp16" and "fp16" not in self.peak_tflops else precision
        if p in self.peak_tflops:
            return self.peak_tflops[p] * 1e12  # type: ignore[index]
        i = order.index(p) if p in order else order.index("bf16")
        for q in order[i:]:
            if q in self.peak_tflops:
                return self.peak_tflops[q] * 1e12  # type: ignore[index]
        return self.peak_tflops["bf16"] * 1e12

    def supports(self, precision: str) -> bool:
        """True where the catalog lists a rate for ``precision`` (or it is bf16 / fp16); the rate may equal bf16's
        (Trainium1, TPU v5p / v6e list fp8 at their bf16 rate)."""
        return precision in self.peak_tflops or precision in ("bf16", "fp16")

    @property
    def hbm_bytes(self) -> float:
        return self.hbm_gb * 1e9 if self.hbm_gb is not None else float(self.hbm_gib) * 2**30  # type: ignore[arg-type]

    @property
    def hbm_bw_bytes_s(self) -> float:
        return self.hbm_tbps * 1e12

    @property
    def scaleup_bw_bytes_s(self) -> float:
        """Per-chip scale-up bandwidth in one direction (bytes/s); 0 where the chip has none."""
        if not self.scaleup_gbytes_s:
            return 0.0
        div = 1.0 if self.scaleup_direction == "unidirectional" else 2.0
        return self.scaleup_gbytes_s * 1e9 / div

    @property
    def scaleout_bw_bytes_s(self) -> float:
        return (self.scaleout_gbits_s or 0.0) * 1e9 / 8


class ScaleUpTier(_NoBool):
    """One level of a hierarchical scale-up domain (e.g. 16 chips in a server, 64 in an UltraServer)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    name: str
    chips: int = Field(ge=1)
    gbytes_s_per_chip: float = Field(gt=0, description="per-chip bandwidth at this tier, GB/s, as published")
    direction: Literal["bidirectional", "unidirectional", "aggregate"] = "bidirectional"
    latency_us: float = Field(2.0, ge=0)
    topology: Literal["switch", "ring", "torus2d", "torus3d", "mesh"] = "switch"
    achieved_fraction: float = Field(
        1.0, gt=0, le=1,
        description="fraction of the published link rate that collectives can use (protocol / CRC overhead "
                    "measured by the vendor); 1 where none is published")

    @property
    def bw_bytes_s(self) -> float:
        """Usable per-chip bandwidth in one direction (published rate x ``achieved_fraction``)."""
        one_way = self.gbytes_s_per_chip * 1e9 / (1.0 if self.direction == "unidirectional" else 2.0)
        return one_way * self.achieved_fraction

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class ScaleOut(_NoBool):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    network: str
    gbits_s_per_chip: float = Field(gt=0)
    latency_us: float | None = Field(None, ge=0, description="overrides the network's latency")

    @property
    def bw_bytes_s(self) -> float:
        return self.gbits_s_per_chip * 1e9 / 8


class System(Entry):
    """The unit you buy and the scale-up domain: a server, an UltraServer, an NVL72 rack, a TPU slice."""

    accelerator: str
    chips: int = Field(ge=1)
    racks_per_system: float = Field(gt=0, description="2 for an UltraServer spanning two racks, 0.25 for 4 nodes per rack")
    system_power_w: float = Field(gt=0, description="IT power of the system at full load: chips, hosts, fans, NICs, PSU loss")
    idle_power_fraction: float = Field(0.3, ge=0, le=1, description="idle draw as a fraction of system_power_w")
    scaleup: tuple[ScaleUpTier, ...] = Field(min_length=1)
    scaleout: ScaleOut
    capex_usd: float | None = Field(None, description="price of one system (chips, hosts, in-system links)")
    price_usd_per_hour: float | None = None
    cooling: Literal["air", "liquid"] = "air"
    host_dispatch_factor: float = Field(
        1.0, gt=0, description="host CPU time to issue one framework op (PyTorch dispatch + kernel launch), "
                               "relative to an x86 Xeon host (DGX H100's 8480C) in production settings (NUMA-bound, tuned stack)")
    collective_base_latency_us: float = Field(
        0.0, ge=0, description="fixed cost of one collective call of the system's collective library, on top of "
                               "its per-step latencies (NCCL's cost model, ring with the Simple protocol: 8.4 us); 0 "
                               "where a compiler schedules the collectives inside one program")

    @model_validator(mode="after")
    def _tiers(self) -> System:
        prev = 0
        for t in self.scaleup:
            if t.chips <= prev:
                raise ValueError("scaleup tiers must grow in chips, innermost first")
            prev = t.chips
        for f in ("capex_usd", "price_usd_per_hour"):
            _positive(getattr(self, f), f)
        return self

    @property
    def scaleup_domain_chips(self) -> int:
        return self.scaleup[-1].chips

    @property
    def power_per_chip_w(self) -> float:
        return self.system_power_w / self.chips


class Network(Entry):
    """A network fabric: scale-out (EFA, InfiniBand, RoCE, DCN) or a cross-site link."""

    kind: Literal["scale-up", "scale-out", "cross-site"]
    technology: str
    latency_us: float = Field(ge=0)
    link_gbits_s: float | None = Field(None, gt=0, description="per-port line rate")
    tiers: int | None = Field(None, ge=1, description="switch tiers of a fat tree / Clos")
    oversubscription: float = Field(1.0, ge=1.0)
    capex_usd_per_chip: float | None = Field(None, gt=0)

    @property
    def latency_s(self) -> float:
        return self.latency_us * 1e-6


class Site(Entry):
    """A data-center campus: power, PUE, location, electricity price."""

    location: str
    country: str = "US"
    operator: str | None = None
    power_mw: float = Field(gt=0, description="facility power at full build-out, MW")
    pue: float = Field(ge=1.0, le=3.0)
    electricity_usd_per_mwh: float = Field(gt=0)
    buildings: int | None = Field(None, ge=1)
    online: str | None = Field(None, description="first energization, YYYY-MM")
    power_mw_by_year: dict[int, float] | None = Field(
        None, description="facility power available in a year as the campus is built out, MW; linear between the "
                          "years given, none before the first, the last figure after it (default: power_mw from the "
                          "online year on)")

    @field_validator("online")
    @classmethod
    def _online(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"(19|20)\d\d(-(0[1-9]|1[0-2]))?", v):
            raise ValueError(f"online must be YYYY or YYYY-MM (got '{v}')")
        return v

    @model_validator(mode="after")
    def _ramp(self) -> Site:
        for year, mw in (self.power_mw_by_year or {}).items():
            if not (1900 < year < 2200):
                raise ValueError(f"power_mw_by_year: {year} is not a calendar year")
            if not (math.isfinite(mw) and 0 <= mw <= self.power_mw):
                raise ValueError(f"power_mw_by_year: {year} has {mw} MW; give 0 to power_mw ({self.power_mw:g} MW, "
                                 "the full build-out)")
        return self

    def power_w_in(self, year: int) -> float:
        """Facility power available in ``year`` (W): the build-out ramp, or power_mw from the online year on."""
        ramp = self.power_mw_by_year
        if not ramp:
            if self.online is not None and year < int(self.online[:4]):
                return 0.0
            return self.power_mw * 1e6
        ys = sorted(ramp)
        if year < ys[0]:
            return 0.0
        if year >= ys[-1]:
            return ramp[ys[-1]] * 1e6
        hi = next(y for y in ys if y > year)
        lo = max(y for y in ys if y <= year)
        return (ramp[lo] + (ramp[hi] - ramp[lo]) * (year - lo) / (hi - lo)) * 1e6


class MoE(_NoBool):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    experts: int = Field(ge=2, le=1_000_000)
    top_k: int = Field(ge=1)
    expert_ffn_hidden: int = Field(ge=1, le=100_000_000)
    shared_experts: int = Field(0, ge=0)
    shared_ffn_hidden: int | None = None
    dense_layers: int = Field(0, ge=0, description="leading layers with a dense FFN instead of experts")
    every: int = Field(1, ge=1, description="after the leading dense layers, one layer in this many has experts "
                                            "(the last of each group), the others a dense FFN of ffn_hidden "
                                            "(Llama 4 Maverick: 2; 1: every layer)")
    capacity_factor: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _k(self) -> MoE:
        if self.top_k > self.experts:
            raise ValueError(f"top_k ({self.top_k}) must not exceed experts ({self.experts})")
        return self


class MLA(_NoBool):
    """Multi-head latent attention (DeepSeek-V2/V3): low-rank kv (and q) projections."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    q_lora_rank: int | None = Field(None, ge=1, description="rank of the q down-projection; absent (DeepSeek-V2-Lite): "
                                                           "q projected from the hidden state directly")
    kv_lora_rank: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=1)
    v_head_dim: int = Field(ge=1)


class Model(Entry):
    """A transformer by its dimensions. Parameter counts are derived (see rainier.catalog.params)."""

    family: str | None = None
    layers: int = Field(ge=1, le=100_000)
    hidden: int = Field(ge=1, le=10_000_000)
    heads: int = Field(ge=1, le=1_000_000)
    kv_heads: int | None = Field(None, ge=1, le=1_000_000)
    head_dim: int | None = Field(None, ge=1, le=1_000_000)
    ffn_hidden: int = Field(ge=1, le=100_000_000)
    vocab: int = Field(ge=1, le=100_000_000)
    ffn_type: Literal["gelu", "swiglu"] = "swiglu"
    tied_embeddings: bool = False
    bias: bool = False
    learned_pos_emb: bool = False
    max_seq: int = Field(2048, ge=1, le=1_000_000_000)
    moe: MoE | None = None
    mla: MLA | None = None
    sliding_window: int | None = Field(
        None, ge=1, description="tokens a sliding-window attention layer attends to (itself included)")
    full_attention_every: int | None = Field(
        None, ge=1,
        description="with sliding_window: one layer in this many keeps full attention, the others slide "
                    "(gpt-oss 2, Gemma 3 6); absent: every layer slides (Mistral 7B v0.1); with "
                    "attention_chunk the same for chunked layers (Llama 4: 4)")
    attention_chunk: int | None = Field(
        None, ge=1, description="chunked local attention (Llama 4): the sequence is cut into chunks of this many "
                                "tokens and a query attends only to the earlier tokens of its own chunk")
    published_params_b: float | None = Field(None, gt=0, description="total parameters as published, billions")
    published_active_params_b: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _shape(self) -> Model:
        kv = self.kv_heads or self.heads
        if self.heads % kv:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({kv})")
        if self.head_dim is None and self.mla is None and self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be a multiple of heads ({self.heads}) or give head_dim")
        if self.moe and self.moe.dense_layers > self.layers:
            raise ValueError("moe.dense_layers exceeds layers")
        if self.moe and self.moe.dense_layers < self.layers and self.moe_layer_count == 0:
            raise ValueError(f"moe.every ({self.moe.every}) exceeds the {self.layers - self.moe.dense_layers} layers "
                             "after moe.dense_layers: no layer would have experts")
        if self.sliding_window is not None and self.attention_chunk is not None:
            raise ValueError("give sliding_window or attention_chunk, not both (a local layer slides or is chunked)")
        return self

    def is_moe_layer(self, i: int) -> bool:
        """Whether layer ``i`` (0-based) has experts: after the ``moe.dense_layers`` leading dense ones, the last of
        every ``moe.every`` layers (Hugging Face's rule for Llama 4 / Qwen2-MoE: ``(i + 1) % step == 0``)."""
        m = self.moe
        return m is not None and i >= m.dense_layers and (i - m.dense_layers + 1) % m.every == 0

    @property
    def moe_layer_count(self) -> int:
        """Layers with experts (:meth:`is_moe_layer`): ``(layers - dense_layers) // every``."""
        if self.moe is None:
            return 0
        return (self.layers - self.moe.dense_layers) // self.moe.every

    @property
    def local_window(self) -> int | None:
        """Tokens a local-attention layer holds at most: the sliding window or the attention chunk."""
        return self.sliding_window if self.sliding_window is not None else self.attention_chunk

    @property
    def n_kv_heads(self) -> int:
        return self.kv_heads or self.heads

    @property
    def d_head(self) -> int:
        return self.head_dim or self.hidden // self.heads

    @property
    def is_moe(self) -> bool:
        return self.moe is not None

    @property
    def sliding_fraction(self) -> float:
        """Share of the layers that attend locally, through a sliding window or a chunk (0 without either)."""
        if self.local_window is None:
            return 0.0
        return 1.0 - 1.0 / self.full_attention_every if self.full_attention_every else 1.0

    def attended_keys(self, seq: float, causal: bool = True) -> float:
        """Keys a query attends to, averaged over the sequence and the layers: ``seq / 2`` per full causal
        layer (``seq`` non-causal); a window ``W < seq`` gives ``W - W^2 / (2 seq)`` (causal: the first
        ``W`` positions see fewer), ``W`` non-causal. A chunked layer (chunks of ``C``) over ``s = n C + r``
        tokens: ``(n C^2 + r^2) / (2 s)`` causal (a query sees its chunk's earlier tokens), twice that
        non-causal (its whole chunk)."""
        full = seq / 2.0 if causal else float(seq)
        f = self.sliding_fraction
        w_loc = self.local_window
        if f == 0.0 or w_loc is None or w_loc >= seq:
            return full
        w = float(w_loc)
        if self.attention_chunk is not None:
            n, r = divmod(float(seq), w)
            local = (n * w * w + r * r) / float(seq) / (2.0 if causal else 1.0)
        else:
            local = w - w * w / (2.0 * seq) if causal else w
        return (1.0 - f) * full + f * local

    def kv_share(self, context: float | None) -> float:
        """Share of the layers' KV a cached token costs at a sequence length of ``context`` tokens.

        A sliding-window layer keeps only its last ``W`` tokens, so over a sequence of ``c`` tokens its cache
        holds ``min(c, W)`` of them: per token that is ``min(1, W / c)`` of a full layer's. A chunked layer
        holds its current chunk's tokens, at most ``C``: counted as a window of ``C`` (the most it needs).
        ``None``: no context given, every layer counted whole.
        """
        f = self.sliding_fraction
        w = self.local_window
        if f == 0.0 or not context or w is None:
            return 1.0
        return (1.0 - f) + f * min(1.0, w / float(context))

    @property
    def params(self) -> float:
        from rainier.catalog.params import param_counts

        return param_counts(self).total

    @property
    def active_params(self) -> float:
        from rainier.catalog.params import param_counts

        return param_counts(self).active


class Economics(Entry):
    """Facility and money assumptions used by sizing and cost (one entry named 'default' ships)."""

    network_overhead_fraction: float = Field(ge=0, le=1, description="scale-out switches, storage: share added to system power")
    default_pue: float = Field(ge=1.0, le=3.0, description="PUE for air-cooled systems when no site is given")
    default_pue_liquid: float = Field(ge=1.0, le=3.0, description="PUE for liquid-cooled systems when no site is given")
    load_factor: float = Field(gt=0, le=1, description="average draw / nameplate over a year")
    electricity_usd_per_mwh: float = Field(gt=0)
    hardware_life_years: float = Field(gt=0)
    facility_life_years: float = Field(gt=0)
    cost_of_capital: float = Field(ge=0, lt=1)
    facility_capex_usd_per_w_it: float = Field(gt=0, description="shell, power and cooling per watt of IT")
    om_fraction_per_year: float = Field(ge=0, lt=1, description="maintenance, spares, staff as a share of capex per year")
    # one synchronous training job's failures and checkpoints (perf.goodput); defaults so that older files load
    interruptions_per_chip_hour: float = Field(
        419 / (16384 * 54 * 24), ge=0, lt=1, description="unexpected job interruptions per chip-hour of a synchronous job")
    job_restart_s: float = Field(600.0, ge=0, description="detect, reschedule and reinitialise a job after a failure "
                                                           "(the checkpoint read is added), seconds")
    checkpoint_storage_bytes_per_s_per_chip: float = Field(
        1.2e8, gt=0, description="storage write/read bandwidth for checkpoints, per chip of the job")
    checkpoint_barrier_s: float = Field(2.0, ge=0, description="every checkpoint's global barrier and metadata "
                                                                "commit: the job stops this long, seconds")
    checkpoint_host_copy_bytes_per_s: float = Field(
        2.5e10, gt=0, description="per chip: device-to-host copy rate of an asynchronous checkpoint")


KINDS: dict[str, type[Entry]] = {
    "accelerators": Accelerator,
    "systems": System,
    "networks": Network,
    "sites": Site,
    "models": Model,
    "economics": Economics,
}
