"""Speculative decoding for the serving model: a draft proposes tokens, the target verifies them in one pass.

Every decode iteration, for each decoding request, a draft proposes ``k`` tokens in ``k`` sequential passes;
the target then runs one pass over the ``k + 1`` positions (the last accepted token and the ``k`` proposals),
reading each request's KV cache once, and keeps the longest accepted prefix plus one token of its own.
With a per-token acceptance probability ``a`` (independent positions, Leviathan et al. ICML'23), the tokens
a request gains per iteration are

    E = 1 + a + a^2 + ... + a^k = (1 - a^(k+1)) / (1 - a)

so a request of ``n`` output tokens decodes in ``ceil((n - 1) / E)`` iterations after its first token.

What each iteration costs, from the same physics as plain decoding (:class:`rainier.perf.inference.StepModel`):

* the target's GEMMs and logits over ``k + 1`` positions per decoding request (a decode batch of ``b`` is a
  ``b (k + 1)``-token GEMM: at small batches still bound by the weights' bytes, so nearly free; at large
  batches compute-bound, so it costs what it adds);
* the target's attention reads each request's KV once; its FLOPs are ``k + 1`` queries' worth;
* the draft: its first pass also runs over the iteration's prefill chunk (a draft keeps its own KV of the
  prompt), then ``k - 1`` more passes of one token per decoding request, each reading the draft's own
  weights and KV. Draft passes carry the draft's per-layer launch cost but not the host's per-iteration
  scheduling time, which the target's iteration already pays.

Drafts: a catalog model (a small model of the same family: Llama 3.2 1B for Llama 3.1 70B), or ``mtp``:
a one-layer head on the target's hidden states sharing its embedding and output head (DeepSeek-V3's
multi-token prediction, EAGLE): one target layer plus a ``2h x h`` input projection. The acceptance rate
is the user's: it depends on the draft, the data and the sampling temperature (published EAGLE-3 and
MTP runs accept 0.6-0.9 per token on chat data at temperature 0).

Not modelled: tree drafts (several candidates per position), acceptance that varies along the draft or
between requests, and the KV of rejected proposals (``k`` tokens per request held for one iteration: it
is reserved at admission).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from rainier.catalog.schema import Model
from rainier.errors import RainierError

MTP = "mtp"
MAX_SPEC_TOKENS = 16


@dataclass(frozen=True)
class SpecConfig:
    """The user's speculative decoding settings: how many tokens the draft proposes, how often each is
    accepted, and the draft (a catalog model, or the target's one-layer MTP / EAGLE head)."""

    tokens: int
    accept: float
    draft: Model
    mtp: bool

    def __post_init__(self) -> None:
        if not 1 <= self.tokens <= MAX_SPEC_TOKENS:
            raise RainierError(f"draft tokens per step must be 1 to {MAX_SPEC_TOKENS} (got {self.tokens})",
                               field="--spec-tokens", fix="give e.g. --spec-tokens 3")
        if not 0.0 <= self.accept < 1.0:
            raise RainierError(f"per-token acceptance must lie in [0, 1) (got {self.accept})",
                               field="--spec-accept", fix="give e.g. --spec-accept 0.7")

    @property
    def gain(self) -> float:
        """Expected tokens a decoding request gains per iteration."""
        return expected_tokens(self.tokens, self.accept)

    @property
    def label(self) -> str:
        return MTP if self.mtp else self.draft.name

    def to_dict(self) -> dict[str, Any]:
        return {"draft": self.label, "tokens": self.tokens, "accept": self.accept,
                "tokens_per_step": self.gain}


def expected_tokens(k: int, a: float) -> float:
    """``1 + a + ... + a^k``: tokens per verification pass with ``k`` proposals accepted with probability
    ``a`` each (the first rejection ends the run; the target adds one token of its own)."""
    if a <= 0.0:
        return 1.0
    return (1.0 - a ** (k + 1)) / (1.0 - a)


def gain_and_tokens(step: SpecStep | None) -> tuple[float, int]:
    """(tokens a decoding request gains per iteration, draft tokens verified beside its own): (1, 0) without a draft."""
    return (1.0, 0) if step is None else (float(step.spec.gain), int(step.k))


def decode_steps(output_len: np.ndarray, gain: float) -> np.ndarray:
    """Decode iterations after the first token for outputs of ``output_len`` tokens."""
    n = np.maximum(np.asarray(output_len, dtype=np.int64) - 1, 0)
    if gain == 1.0:
        return n
    return np.ceil(n / gain - 1e-9).astype(np.int64)


def mtp_head(target: Model) -> Model:
    """The target's one-layer multi-token-prediction head, as a model of one layer (experts on that
    layer when the target has experts: DeepSeek-V3's MTP module is a MoE layer)."""
    upd: dict[str, Any] = {"name": f"{target.name}-mtp", "layers": 1}
    if target.moe is not None:
        upd["moe"] = target.moe.model_copy(update={"dense_layers": 0, "every": 1})
    return target.model_copy(update=upd)


def make_spec(target: Model, draft: Model | None, tokens: int, accept: float) -> SpecConfig:
    """Settings for ``target``: ``draft`` None means the MTP head. The draft must share the vocabulary."""
    if draft is None:
        return SpecConfig(int(tokens), float(accept), mtp_head(target), True)
    if draft.vocab != target.vocab:
        raise RainierError(f"draft {draft.name} has a vocabulary of {draft.vocab:,} tokens, {target.name} "
                           f"{target.vocab:,}: a draft proposes the target's tokens", field="--draft",
                           fix="give a draft of the same family (same tokenizer), or --draft mtp")
    return SpecConfig(int(tokens), float(accept), draft, False)


def draft_weight_bytes(spec: SpecConfig, weight_bytes: float, act_bytes: float, tp: int) -> float:
    """Bytes per chip of the draft's weights at ``tp`` (the MTP head shares the target's embedding and
    output head, and adds a ``2h x h`` projection)."""
    from rainier.catalog.params import param_counts

    pc = param_counts(spec.draft)
    emb = pc.embedding + pc.output
    if spec.mtp:
        h = spec.draft.hidden
        return ((pc.total - emb) + 2 * h * h) * weight_bytes / tp
    return ((pc.total - emb) * weight_bytes + emb * act_bytes) / tp


@dataclass(frozen=True)
class SpecStep:
    """Iteration time of a replica decoding speculatively: the target's step model and the draft's.

    ``c_kv`` is seconds per token of summed decode context (the target's KV read with ``k + 1`` queries,
    plus ``k`` draft passes over the draft's KV); ``c_attn`` seconds per unit of prefill attention work
    (target and draft both prefill the prompt).
    """

    target: Any  # StepModel
    draft: Any  # StepModel (no host overhead per pass)
    spec: SpecConfig

    @property
    def k(self) -> int:
        return self.spec.tokens

    @property
    def c_kv(self) -> float:
        t = self.target
        return float(t.kv_coeff(self.k + 1) + self.k * self.draft.c_kv)

    @property
    def c_attn(self) -> float:
        return float(self.target.c_attn + self.draft.c_attn)

    def base_s(self, ndec: Any, tok_pf: Any, nseq_pf: Any, units: Any) -> Any:
        """Seconds of one iteration without the decode-context term (arrays or scalars)."""
        k = self.k
        ndec = np.asarray(ndec, dtype=float)
        tok_pf = np.asarray(tok_pf, dtype=float)
        nseq_pf = np.asarray(nseq_pf, dtype=float)
        units = np.asarray(units, dtype=float)
        t, d = self.target, self.draft
        verify = ndec * (k + 1)
        s = t.step_time_s(verify + tok_pf, verify + nseq_pf, 0.0, units)
        s = s + d.step_time_s(ndec + tok_pf, ndec + nseq_pf, 0.0, units)
        if k > 1:
            s = s + (k - 1) * d.step_time_s(ndec, ndec, 0.0, 0.0)
        return s

    def step_time_s(self, ndec: Any, tok_pf: Any, nseq_pf: Any, ctx_sum: Any, units: Any) -> Any:
        return self.base_s(ndec, tok_pf, nseq_pf, units) + np.asarray(ctx_sum, dtype=float) * self.c_kv


def check_draft_fits(spec: SpecConfig, target: Model) -> None:
    """A draft larger than its target cannot speed it up: refuse it rather than simulate nonsense."""
    from rainier.catalog.params import param_counts

    if spec.mtp:
        return
    pd, pt = param_counts(spec.draft), param_counts(target)
    if pd.active >= pt.active:
        raise RainierError(f"draft {spec.draft.name} ({pd.active / 1e9:.1f}B active parameters) is not smaller than "
                           f"{target.name} ({pt.active / 1e9:.1f}B)", field="--draft",
                           fix="give a smaller model of the same family, or --draft mtp")


def spec_note(spec: SpecConfig) -> str:
    return (f"speculative decoding: {spec.tokens} draft tokens per step by {spec.label}, acceptance {spec.accept:g} "
            f"per token (assumed, not measured): {spec.gain:.2f} tokens per request per iteration against 1")
