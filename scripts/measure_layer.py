# ruff: noqa: B023  (each closure is timed at once, inside its own loop iteration)
"""Time one transformer layer's forward + backward in eager PyTorch on a GPU, and where the time goes.

Companion of ``measure_kernels.py``: it asks whether a layer costs what its kernels cost one by one (the
sum rainier's step model prices), or more. Run on a machine with one NVIDIA GPU::

    python scripts/measure_layer.py OUT_DIR

Writes ``OUT_DIR/layer.json``: for a Llama-3-8B-shaped layer (hidden 4096, 32 heads, 8 KV heads, SwiGLU
14336, RMSNorm, causal attention through SDPA's flash and cuDNN backends) at several sequence lengths, the
median fwd+bwd time (``triton.testing.do_bench``) and a profiler split of the GPU time by kernel class
(matmul, attention forward, attention backward, other). Also the in-stream floor of a tiny GEMM (200 launches
captured in one CUDA graph): the per-kernel cost a training step's stream pays, without host launch latency.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from triton.testing import do_bench


def classify(name: str) -> str:
    n = name.lower()
    if "flash" in n or "fmha" in n or "attention" in n or "sdpa" in n or "cudnn" in n and "mha" in n:
        return "attn_bwd" if ("bwd" in n or "backward" in n or "dgrad" in n) else "attn_fwd"
    if "gemm" in n or "sm90_xmma" in n or "cutlass" in n or "nvjet" in n or "matmul" in n:
        return "matmul"
    return "other"


def layer(seq: int, backend: SDPBackend, out: dict) -> None:  # type: ignore[type-arg]
    h, nh, kvh, d, f = 4096, 32, 8, 128, 14336
    dt = torch.bfloat16
    dev = "cuda"
    wqkv = (torch.randn(h, (nh + 2 * kvh) * d, device=dev, dtype=dt) * 0.02).requires_grad_()
    wo = (torch.randn(nh * d, h, device=dev, dtype=dt) * 0.02).requires_grad_()
    w13 = (torch.randn(h, 2 * f, device=dev, dtype=dt) * 0.02).requires_grad_()
    w2 = (torch.randn(f, h, device=dev, dtype=dt) * 0.02).requires_grad_()
    g1 = torch.ones(h, device=dev, dtype=dt, requires_grad=True)
    g2 = torch.ones(h, device=dev, dtype=dt, requires_grad=True)
    x = torch.randn(1, seq, h, device=dev, dtype=dt, requires_grad=True)
    dy = torch.randn(1, seq, h, device=dev, dtype=dt)

    def fwd() -> torch.Tensor:
        a = F.rms_norm(x, (h,), g1)
        qkv = a @ wqkv
        q, k, v = qkv.split([nh * d, kvh * d, kvh * d], dim=-1)
        q = q.view(1, seq, nh, d).transpose(1, 2)
        k = k.view(1, seq, kvh, d).transpose(1, 2).repeat_interleave(nh // kvh, dim=1)
        v = v.view(1, seq, kvh, d).transpose(1, 2).repeat_interleave(nh // kvh, dim=1)
        with sdpa_kernel([backend]):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x2 = x + o.transpose(1, 2).reshape(1, seq, nh * d) @ wo
        b = F.rms_norm(x2, (h,), g2)
        gu = b @ w13
        gate, up = gu.chunk(2, dim=-1)
        return x2 + (F.silu(gate) * up) @ w2

    def step() -> None:
        fwd().backward(dy)

    t_fwd = float(do_bench(fwd, warmup=20, rep=100, return_mode="median")) / 1e3
    t_step = float(do_bench(step, warmup=20, rep=100, return_mode="median")) / 1e3
    split: dict[str, float] = {}
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        for _ in range(3):
            step()
        torch.cuda.synchronize()
    top: dict[str, float] = {}
    for ev in prof.key_averages():
        us = float(getattr(ev, "device_time_total", 0.0) or getattr(ev, "cuda_time_total", 0.0))
        if us <= 0 or ev.key.startswith("ProfilerStep"):
            continue
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        c = classify(ev.key)
        split[c] = split.get(c, 0.0) + us / 3 / 1e6
        top[ev.key[:90]] = us / 3 / 1e6
    key = f"{backend.name.lower()}_{seq}"
    out[key] = {"seq": seq, "backend": backend.name, "fwd_s": t_fwd, "fwd_bwd_s": t_step,
                "gpu_time_by_class_s": split,
                "top_kernels_s": dict(sorted(top.items(), key=lambda kv: -kv[1])[:14])}
    print(key, f"fwd {t_fwd * 1e3:.2f} ms, fwd+bwd {t_step * 1e3:.2f} ms,",
          {k: round(v * 1e3, 2) for k, v in split.items()}, flush=True)


def stream_floor(out: dict) -> None:  # type: ignore[type-arg]
    res = {}
    for m, n, k in [(64, 256, 256), (128, 1024, 1024), (256, 2048, 2048), (1024, 4096, 4096)]:
        a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        c = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
        s = torch.cuda.Stream()
        with torch.cuda.stream(s):
            for _ in range(3):
                torch.matmul(a, b, out=c)
        torch.cuda.synchronize()
        g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(g):
            for _ in range(200):
                torch.matmul(a, b, out=c)
        t = float(do_bench(lambda: g.replay(), warmup=20, rep=100, return_mode="median")) / 1e3 / 200
        t_single = float(do_bench(lambda: torch.matmul(a, b, out=c), warmup=20, rep=100, return_mode="median")) / 1e3
        res[f"{m}x{n}x{k}"] = {"in_graph_s": t, "single_s": t_single}
        print("floor", m, n, k, f"{t * 1e6:.2f} us in a graph, {t_single * 1e6:.2f} us alone", flush=True)
    out["gemm_stream_floor"] = res


def main() -> None:
    od = sys.argv[1]
    os.makedirs(od, exist_ok=True)
    out: dict = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__}  # type: ignore[type-arg]
    stream_floor(out)
    for backend in (SDPBackend.FLASH_ATTENTION, SDPBackend.CUDNN_ATTENTION):
        for seq in (2048, 8192, 32768, 65536):
            try:
                layer(seq, backend, out)
            except Exception as exc:  # noqa: BLE001
                print("layer failed", backend, seq, repr(exc)[:300], flush=True)
            torch.cuda.empty_cache()
            with open(os.path.join(od, "layer.json"), "w") as fh:
                json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
