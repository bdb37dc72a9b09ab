# ruff: noqa: B023  (each closure is timed at once, inside its own loop iteration)
"""Measure the kernels rainier's compute model prices, on a real GPU, for calibration and validation.

Run on a machine with one NVIDIA GPU and PyTorch (+ Triton for ``do_bench``)::

    python scripts/measure_kernels.py OUT_DIR [--budget-s 480]

It writes ``OUT_DIR/kernels.csv`` (one row per measured kernel: section, kernel, shape, median time, FLOPs,
bytes, achieved TFLOP/s and TB/s) and ``OUT_DIR/device.json`` (the GPU, driver, library versions, clocks).
Sections, in order (each stops when the time budget runs out, so the file is always usable):

* ``gemm``     -- dense ``(m x k) @ (k x n)`` in bf16 (cuBLAS through ``torch.matmul``) over a grid of sizes
                  (powers of two and the odd dimensions of catalog models), plus fp8 (``torch._scaled_mm``,
                  per-tensor scales) on a smaller grid;
* ``grouped``  -- MoE expert GEMMs: ``G`` experts, ``t`` tokens each on average, balanced or routed at random
                  (multinomial counts), as one grouped GEMM (``torch._grouped_mm``, CUTLASS), one GEMM per
                  expert (a loop, as a sequential expert MLP issues them) and a batched GEMM (balanced only);
* ``attention``-- scaled-dot-product attention forward and backward (flash backend = FlashAttention-2 class;
                  cuDNN backend = the FlashAttention-3 class on Hopper), causal and not, head dims 64..256;
* ``memory``   -- streaming kernels: copy, RMSNorm, SwiGLU, fused AdamW (achieved HBM bandwidth).

Timing: ``triton.testing.do_bench`` (CUDA events, L2 flushed before each repetition, median). Inputs are
random normal (never zeros). Nothing here is fitted; ``src/rainier/perf/data/kernels-*.csv`` keeps a run's
output, and ``rainier validate kernels`` compares the model with it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from triton.testing import do_bench

FIELDS = ["section", "kernel", "dtype", "m", "n", "k", "groups", "routing", "batch", "heads", "seq", "head_dim",
          "causal", "pass", "time_s", "flops", "bytes", "tflops", "tbps", "note"]


class Recorder:
    def __init__(self, out_dir: str, budget_s: float) -> None:
        self.path = os.path.join(out_dir, "kernels.csv")
        self.fh = open(self.path, "w", newline="")
        self.w = csv.DictWriter(self.fh, fieldnames=FIELDS)
        self.w.writeheader()
        self.t0 = time.time()
        self.budget = budget_s
        self.n = 0

    def left(self) -> float:
        return self.budget - (time.time() - self.t0)

    def add(self, **row: object) -> None:
        t = float(row["time_s"])  # type: ignore[arg-type]
        fl = float(row.get("flops", 0) or 0)  # type: ignore[arg-type]
        by = float(row.get("bytes", 0) or 0)  # type: ignore[arg-type]
        row["tflops"] = round(fl / t / 1e12, 3) if fl else ""
        row["tbps"] = round(by / t / 1e12, 4) if by else ""
        row["time_s"] = f"{t:.6e}"
        self.w.writerow({k: row.get(k, "") for k in FIELDS})
        self.n += 1
        if self.n % 20 == 0:
            self.fh.flush()


def bench(fn) -> float:  # type: ignore[no-untyped-def]
    return float(do_bench(fn, warmup=10, rep=40, return_mode="median")) / 1e3


def device_info(out_dir: str) -> None:
    p = torch.cuda.get_device_properties(0)
    info = {"name": p.name, "sm_count": p.multi_processor_count, "memory_gb": p.total_memory / 1e9,
            "torch": torch.__version__, "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}
    try:
        q = "clocks.sm,clocks.max.sm,clocks.mem,power.limit,power.draw,driver_version,temperature.gpu"
        info["nvidia_smi"] = subprocess.run(["nvidia-smi", f"--query-gpu={q}", "--format=csv"],
                                            capture_output=True, text=True, timeout=20).stdout
    except Exception as exc:  # noqa: BLE001
        info["nvidia_smi"] = repr(exc)
    with open(os.path.join(out_dir, "device.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    print(json.dumps(info, indent=1))


def gemm(rec: Recorder) -> None:
    dims = [64, 128, 256, 512, 1024, 2048, 2880, 4096, 7168, 8192, 16384]
    nk = [256, 512, 1024, 2048, 2880, 4096, 7168, 8192, 16384]
    for m in dims:
        for n in nk:
            for k in nk:
                if rec.left() < 0.55 * rec.budget:
                    return
                a = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
                b = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
                t = bench(lambda: torch.matmul(a, b))
                rec.add(section="gemm", kernel="cublas", dtype="bf16", m=m, n=n, k=k, time_s=t,
                        flops=2 * m * n * k, bytes=2 * (m * k + k * n + m * n))
    # a transposed-operand sample (backward GEMMs): A^T B and A B^T
    for m, n, k in [(4096, 4096, 4096), (8192, 7168, 2880), (1024, 8192, 8192), (16384, 2880, 2880)]:
        a = torch.randn(k, m, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, k, device="cuda", dtype=torch.bfloat16)
        t = bench(lambda: torch.matmul(a.t(), b.t()))
        rec.add(section="gemm", kernel="cublas_tt", dtype="bf16", m=m, n=n, k=k, time_s=t,
                flops=2 * m * n * k, bytes=2 * (m * k + k * n + m * n))
    if not hasattr(torch, "_scaled_mm"):
        return
    one = torch.tensor(1.0, device="cuda")
    for m in [256, 1024, 2048, 4096, 8192, 16384]:
        for n in [1024, 2880, 4096, 8192, 16384]:
            for k in [1024, 2880, 4096, 8192, 16384]:
                if rec.left() < 0.5 * rec.budget:
                    return
                a = torch.randn(m, k, device="cuda").to(torch.float8_e4m3fn)
                b = torch.randn(n, k, device="cuda").to(torch.float8_e4m3fn).t()
                try:
                    t = bench(lambda: torch._scaled_mm(a, b, scale_a=one, scale_b=one, out_dtype=torch.bfloat16))
                except Exception as exc:  # noqa: BLE001
                    print("fp8 gemm failed", m, n, k, repr(exc)[:200])
                    return
                rec.add(section="gemm", kernel="cublas_scaled_mm", dtype="fp8", m=m, n=n, k=k, time_s=t,
                        flops=2 * m * n * k, bytes=m * k + k * n + 2 * m * n)


def _counts(g: int, t: int, routing: str, gen: torch.Generator) -> list[int]:
    if routing == "balanced":
        return [t] * g
    idx = torch.randint(0, g, (g * t,), generator=gen)
    return torch.bincount(idx, minlength=g).tolist()


def grouped(rec: Recorder) -> None:
    gen = torch.Generator().manual_seed(0)
    shapes = [("gpt-oss", 2880, 2880), ("deepseek-v3", 7168, 2048), ("mixtral", 4096, 14336),
              ("qwen3-30b-a3b", 2048, 768)]
    ok_grouped = hasattr(torch, "_grouped_mm")
    for name, h, f in shapes:
        for g in [8, 32, 128]:
            for t in [16, 32, 64, 128, 256, 512, 1024, 2048, 4096]:
                tot = g * t
                if tot * max(h, 2 * f) * 2 > 8e9 or g * h * 2 * f * 2 > 16e9:
                    continue
                for which, n, k in [("up", 2 * f, h), ("down", h, f)]:
                    if rec.left() < 0.3 * rec.budget:
                        return
                    for routing in ["balanced", "random"]:
                        counts = _counts(g, t, routing, gen)
                        a = torch.randn(tot, k, device="cuda", dtype=torch.bfloat16)
                        w = torch.randn(g, n, k, device="cuda", dtype=torch.bfloat16).transpose(-2, -1)
                        flops = 2 * tot * n * k
                        nbytes = 2 * (tot * k + g * k * n + tot * n)
                        common = dict(section="grouped", dtype="bf16", m=t, n=n, k=k, groups=g, routing=routing,
                                      flops=flops, bytes=nbytes, note=f"{name} {which} max_tokens={max(counts)}")
                        if ok_grouped:
                            offs = torch.tensor(counts, device="cuda", dtype=torch.int32).cumsum(0).to(torch.int32)
                            try:
                                tg = bench(lambda: torch._grouped_mm(a, w, offs=offs))
                                rec.add(kernel="grouped_mm", time_s=tg, **common)
                            except Exception as exc:  # noqa: BLE001
                                print("grouped_mm failed", name, g, t, routing, repr(exc)[:300])
                                ok_grouped = False
                        if g * t <= 2 * 65536 and g <= 32:
                            splits = list(torch.split(a, counts))

                            def loop() -> None:
                                for i in range(g):
                                    torch.matmul(splits[i], w[i])
                            rec.add(kernel="loop_mm", time_s=bench(loop), **common)
                        if routing == "balanced":
                            ab = a.view(g, t, k)
                            rec.add(kernel="bmm", time_s=bench(lambda: torch.bmm(ab, w)), **common)


def attention(rec: Recorder) -> None:
    from torch.nn.attention import SDPBackend, sdpa_kernel
    backends = [("flash", SDPBackend.FLASH_ATTENTION), ("cudnn", SDPBackend.CUDNN_ATTENTION)]
    hidden = 2048
    for bname, backend in backends:
        for d in [64, 96, 112, 128, 256]:
            for s in [512, 1024, 2048, 4096, 8192, 16384, 32768]:
                for causal in [True, False]:
                    if rec.left() < 0.12 * rec.budget:
                        return
                    hds = max(1, hidden // d)
                    b = max(1, 16384 // s)
                    q, k, v = (torch.randn(b, hds, s, d, device="cuda", dtype=torch.bfloat16, requires_grad=True)
                               for _ in range(3))
                    do = torch.randn(b, hds, s, d, device="cuda", dtype=torch.bfloat16)
                    fl = 4.0 * b * hds * s * s * d * (0.5 if causal else 1.0)
                    nbytes = 2 * 4 * b * hds * s * d
                    common = dict(section="attention", kernel=bname, dtype="bf16", batch=b, heads=hds, seq=s,
                                  head_dim=d, causal=int(causal))
                    try:
                        with sdpa_kernel([backend]):
                            tf = bench(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal))

                            def fb() -> None:
                                o2 = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                                o2.backward(do)
                            tfb = bench(fb)
                    except Exception as exc:  # noqa: BLE001
                        print("attention failed", bname, d, s, causal, repr(exc)[:200])
                        continue
                    rec.add(**common, **{"pass": "fwd"}, time_s=tf, flops=fl, bytes=nbytes)
                    rec.add(**common, **{"pass": "bwd"}, time_s=max(tfb - tf, 1e-9), flops=2.5 * fl,
                            bytes=2 * nbytes, note=f"fwd+bwd {tfb:.4e} s")
                    q.grad = k.grad = v.grad = None


def memory(rec: Recorder) -> None:
    for numel in [2**20, 2**24, 2**27, 2**29]:
        if rec.left() < 0.03 * rec.budget:
            return
        x = torch.randn(numel, device="cuda", dtype=torch.bfloat16)
        y = torch.empty_like(x)
        rec.add(section="memory", kernel="copy", dtype="bf16", m=numel, time_s=bench(lambda: y.copy_(x)),
                bytes=4 * numel)
        h = 8192
        xr = x.view(-1, h)
        wn = torch.randn(h, device="cuda", dtype=torch.bfloat16)
        rec.add(section="memory", kernel="rms_norm", dtype="bf16", m=numel // h, n=h,
                time_s=bench(lambda: F.rms_norm(xr, (h,), wn)), bytes=4 * numel)
        half = numel // 2
        g, u = x[:half], x[half:]
        rec.add(section="memory", kernel="swiglu_eager", dtype="bf16", m=half,
                time_s=bench(lambda: F.silu(g) * u), bytes=2 * (2 * half + half) + 2 * 2 * half,
                note="silu writes an intermediate")
    n = 2**27
    ps = [torch.randn(n, device="cuda", dtype=torch.float32)]
    gs = [torch.randn(n, device="cuda", dtype=torch.float32)]
    m1 = [torch.zeros(n, device="cuda") + 0.1]
    m2 = [torch.zeros(n, device="cuda") + 0.1]
    steps = [torch.tensor(1.0, device="cuda")]
    try:
        def adam() -> None:
            torch._fused_adamw_(ps, gs, m1, m2, [], steps, lr=1e-4, beta1=0.9, beta2=0.95, weight_decay=0.1,
                                eps=1e-8, amsgrad=False, maximize=False)
        rec.add(section="memory", kernel="fused_adamw_fp32", dtype="fp32", m=n, time_s=bench(adam),
                bytes=4 * n * 7, note="reads p, g, m, v; writes p, m, v")
    except Exception as exc:  # noqa: BLE001
        print("adamw failed", repr(exc)[:200])


def main() -> None:
    out = sys.argv[1]
    budget = float(sys.argv[sys.argv.index("--budget-s") + 1]) if "--budget-s" in sys.argv else 480.0
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    device_info(out)
    rec = Recorder(out, budget)
    for section in (gemm, grouped, attention, memory):
        t = time.time()
        try:
            section(rec)
        except Exception as exc:  # noqa: BLE001
            print(section.__name__, "failed:", repr(exc)[:500])
        torch.cuda.empty_cache()
        rec.fh.flush()
        print(f"{section.__name__}: {time.time() - t:.1f} s, rows so far {rec.n}", flush=True)
    rec.fh.close()
    print("total rows", rec.n, "in", round(time.time() - rec.t0, 1), "s")


if __name__ == "__main__":
    main()
