"""Out-of-sample check of the training model on NVIDIA NeMo performance tables that are NOT in the validation table.

Nothing is fitted on these rows (tokens/s/GPU as published):

* ``LONG_SEQ``: NeMo's long-sequence pre-training table (container 24.03.01, DGX-H100, FP8): Llama 2 7B from 4K
  to 1M tokens per sequence on 4 to 1,024 GPUs, the sequence split by context parallelism (CP up to 32) and
  TP up to 8 (``NVIDIA/NeMo docs/source/performance/performance_long_sequence.md``);
* ``NEMO_24``: the H100 FP8 pre-training tables NeMo published for its 24.07 / 24.09 containers (three
  revisions of the page, ``docs/source/performance/performance_summary.md``), every row of a model in the
  catalog except the five that are validation rows 62-66; Nemotron 8B/22B are left out (architectures not
  published);
* ``MB_2509``: Megatron-Bridge ``docs/performance-summary.md``, 25.09 container (FP8: the page's footnote on
  quantisation granularities), the first configuration of each row. Its MoE rows are marked ``(tokendrop)``
  but H100 DeepSeek-V3 ``(dropless)``: the performance scripts' ``apply_moe_token_drop`` sets capacity factor 1.0
  with padding to capacity, whose balanced compute is the dropless one, so all run alike (rainier's default
  capacity 1.0). What token drop does change: Megatron-Core's drop-and-pad dispatcher knows every expert's
  token count without a device-to-host sync, so the host can run ahead of the GPU. rainier's host bound does
  not distinguish that. Measured, 25.09 token drop over 25.11 dropless on B200 with the same layouts (other
  software changed too): 1.94x throughput for Qwen3-30B-A3B (16 experts per GPU, micro batch 1), 1.26x for
  Qwen3-235B, 1.06x for DeepSeek-V3 (whose 25.11 run adds MTP).

* ``DGXC``: NVIDIA's DGX Cloud benchmarking recipes (``NVIDIA/dgxc-benchmarking``: ``nemo_megatron/README_175b.md``,
  ``nemotron/README_340b.md`` (NeMo 24.11), ``llama3.1/README_405b.md`` (NeMo 24.09), ``maxtext/README_70b.md``
  (JAX MaxText container 2024-12-09)), 50-step runs on DGX H100 with the last logged step time, BF16 and FP8:
  GPT-3 175B (TP 4, PP 8, VP 12, 128-2,048 GPUs), Nemotron-4 340B (TP 8, PP 8, VP 12), Llama 3.1 405B at its
  full 126 layers (TP 8, CP 2, PP 9, VP 7; the READMEs' fewer-layer proxy runs are left out) and MaxText's
  Llama 2 70B on GPUs (FSDP, micro batch 2). Published tokens/s are the whole job's, divided by the GPUs here.

* ``MOE_ZOO_*``: Megatron-Core's MoE ModelZoo best-practice runs of Qwen3-235B-A22B on 256 H100 (step times),
  with DeepEP (hierarchical all-to-all) or NCCL's all-to-all.

The 24.x rows run as NeMo 1.x / Megatron-Core then did (fp32 gradient reduction, as validation rows 62-66);
the 25.09 rows with bf16 gradients (``grad_reduce_in_fp32 = False`` in the performance scripts). Recompute,
ZeRO stage and anything not stated are searched, as in ``rainier validate training``. Run from the
repository root::

    python scripts/check_nemo_tables.py [--rows]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from rainier.errors import RainierError
from rainier.perf.training import Options

sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_unlisted_training import estimate_row  # noqa: E402  (the same table-line reader)

# chip, model, GPUs, precision, global batch, micro batch, seq, FSDP, TP, PP, CP, VP, EP, tokens/s/GPU
LONG_SEQ = """
h100 llama2-7b    4 fp8 1024 1    4096 0 1 1  1 1 1 16671
h100 llama2-7b    8 fp8  512 1    8192 0 1 2  1 1 1 13907
h100 llama2-7b   16 fp8  256 1   16384 0 2 1  1 1 1 10082
h100 llama2-7b   32 fp8  128 1   32768 0 2 1  2 1 1 6687
h100 llama2-7b   64 fp8   64 1   65536 0 4 1  2 1 1 4021
h100 llama2-7b  128 fp8   32 1  131072 0 4 1  4 1 1 2260
h100 llama2-7b  256 fp8   16 1  262144 0 4 1  8 1 1 1214
h100 llama2-7b  512 fp8    8 1  524288 0 8 1 16 1 1 635
h100 llama2-7b 1024 fp8    4 1 1048576 0 8 1 32 1 1 318
"""

NEMO_24 = """
h100 gpt3-5b          64 fp8 2048 4 2048 0 1 1 1  1 1 22521
h100 gpt3-20b         64 fp8  256 2 2048 0 2 1 1  1 1 5851
h100 llama2-7b         8 fp8  128 1 4096 0 1 1 1  1 1 16847
h100 llama2-13b       16 fp8  128 1 4096 0 1 4 1 10 1 8646
h100 llama2-70b       64 fp8  128 1 4096 0 4 4 1 20 1 1707
h100 llama3-8b         8 fp8  128 1 8192 0 1 1 2  1 1 12036
h100 llama3-70b       64 fp8  128 1 8192 0 4 4 2  5 1 1533
h100 gpt3-175b       128 fp8  256 1 2048 0 4 8 1  6 1 726
h100 gpt3-175b       512 fp8 2048 2 2048 0 4 8 1  6 1 782
h100 gpt3-5b          64 fp8 2048 4 2048 0 1 1 1  1 1 23574
h100 gpt3-20b         64 fp8  256 2 2048 0 2 1 1  1 1 5894
h100 gpt3-175b       128 fp8  256 1 2048 0 4 8 1  6 1 745
h100 gpt3-175b       512 fp8 2048 2 2048 0 4 8 1  6 1 832
h100 llama2-7b         8 fp8  128 1 4096 0 1 1 1  1 1 16634
h100 llama2-13b       16 fp8  128 1 4096 0 1 4 1 10 1 8715
h100 llama2-70b       64 fp8  128 1 4096 0 4 4 1 20 1 1717
h100 llama3-8b         8 fp8  128 1 8192 0 1 1 2  1 1 11883
h100 llama3-70b       64 fp8  128 1 8192 0 4 4 2  5 1 1549
h100 gpt3-175b       512 fp8 2048 2 2048 0 4 8 1  6 1 825
h100 llama2-7b         8 fp8  128 1 4096 0 1 1 1  1 1 16934
"""
# its Nemotron-4 340B rows: NeMo-Framework-Launcher conf/training/nemotron/nemotron_340b.yaml keeps gradients and
# Adam state in bf16 (mcore_distributed_optim, grad_sync_dtype bf16, dtype bf16)
NEMO_24_NEMOTRON = """
h100 nemotron-4-340b 128 fp8   32 1 4096 0 8 8 1 12 1 322
h100 nemotron-4-340b 128 fp8   32 1 4096 0 8 8 1 12 1 328
h100 nemotron-4-340b 128 fp8   32 1 4096 0 8 8 1 12 1 326
"""

MB_2509 = """
h100  llama3-8b          8 fp8  128 1 8192 1 1 1 1 1  1 14079
h100  llama3-70b        64 fp8  128 1 8192 0 4 8 1 5  1 1619
h100  llama3.1-405b   1024 fp8  512 1 8192 0 8 8 2 8  1 302
h100  deepseek-v3     1024 fp8 8192 1 4096 0 2 8 1 4 64 1297
h100  qwen3-30b-a3b     16 fp8  512 2 4096 0 1 2 1 24 8 10494
h100  qwen3-235b-a22b  256 fp8 2048 1 4096 0 2 8 1 4 32 1204
b200  llama3-8b          8 fp8  128 2 8192 0 1 1 1 1  1 29994
b200  llama3.1-405b    128 fp8   64 1 8192 0 4 8 2 8  1 664
b200  deepseek-v3      256 fp8 2048 1 4096 0 1 16 1 1 8 2265
b200  qwen3-30b-a3b      8 fp8  512 1 4096 0 1 1 1 1  8 18066
b200  qwen3-235b-a22b   64 fp8 1024 1 4096 0 1 8 1 2  8 4104
gb200 llama3-8b          8 fp8  128 2 8192 0 1 1 1 1  1 31357
gb200 llama3-70b        64 fp8  128 2 8192 1 1 1 1 1  1 3986
gb200 llama3.1-405b    128 fp8   64 1 8192 1 2 1 1 1  1 729
gb200 deepseek-v3      256 fp8 2048 1 4096 0 1 4 1 4 64 3454
gb200 qwen3-30b-a3b      8 fp8  512 4 4096 0 1 1 1 1  8 22775
gb200 qwen3-235b-a22b   64 fp8 1024 1 4096 0 2 1 1 1 64 4452
"""

# GPT-3 175B (nemo_megatron/gpt3_175b_hydra.yaml: distributed_fused_adam, grad_sync_dtype bf16; its
# ub_tp_comm_overlap is not modelled)
DGXC_GPT3 = """
h100 gpt3-175b        128 bf16  256 1 2048 0 4 8 1 12 1 492.96
h100 gpt3-175b        256 bf16  512 1 2048 0 4 8 1 12 1 487.16
h100 gpt3-175b        512 bf16 1024 1 2048 0 4 8 1 12 1 486.46
h100 gpt3-175b       1024 bf16 2048 1 2048 0 4 8 1 12 1 484.56
h100 gpt3-175b       2048 bf16 4096 1 2048 0 4 8 1 12 1 482.45
h100 gpt3-175b        128 fp8   256 1 2048 0 4 8 1 12 1 728.05
h100 gpt3-175b        256 fp8   512 1 2048 0 4 8 1 12 1 715.46
h100 gpt3-175b        512 fp8  1024 1 2048 0 4 8 1 12 1 709.39
h100 gpt3-175b       1024 fp8  2048 1 2048 0 4 8 1 12 1 703.78
h100 gpt3-175b       2048 fp8  4096 1 2048 0 4 8 1 12 1 687.25
"""
# Nemotron-4 340B (nemotron/nemotron4-340b-synth.yaml: distributed_fused_adam with grad_sync_dtype bf16 and
# dtype bf16: bf16 gradients and Adam state)
DGXC_NEMOTRON = """
h100 nemotron-4-340b  128 bf16   32 1 4096 0 8 8 1 12 1 222.13
h100 nemotron-4-340b  256 bf16   64 1 4096 0 8 8 1 12 1 219.27
h100 nemotron-4-340b  512 bf16  128 1 4096 0 8 8 1 12 1 217.87
h100 nemotron-4-340b 1024 bf16  256 1 4096 0 8 8 1 12 1 216.49
h100 nemotron-4-340b 2048 bf16  512 1 4096 0 8 8 1 12 1 211.57
h100 nemotron-4-340b  128 fp8    32 1 4096 0 8 8 1 12 1 324.05
h100 nemotron-4-340b  256 fp8    64 1 4096 0 8 8 1 12 1 319.00
h100 nemotron-4-340b  512 fp8   128 1 4096 0 8 8 1 12 1 314.11
h100 nemotron-4-340b 1024 fp8   256 1 4096 0 8 8 1 12 1 306.59
h100 nemotron-4-340b 2048 fp8   512 1 4096 0 8 8 1 12 1 293.41
"""
# Llama 3.1 405B (NeMo 2.0 recipe) and MaxText Llama 2 70B: optimizer settings not read, rainier's defaults
DGXC = """
h100 llama3.1-405b    576 bf16  252 1 8192 0 8 9 2  7 1 208.37
h100 llama3.1-405b   1152 bf16  504 1 8192 0 8 9 2  7 1 204.57
h100 llama3.1-405b   2304 bf16 1008 1 8192 0 8 9 2  7 1 203.41
h100 llama3.1-405b    576 fp8   252 1 8192 0 8 9 2  7 1 318.86
h100 llama3.1-405b   1152 fp8   504 1 8192 0 8 9 2  7 1 316.89
h100 llama3.1-405b   2304 fp8  1008 1 8192 0 8 9 2  7 1 290.20
h100 llama2-70b        64 bf16  128 2 4096 1 1 1 1  1 1 1170.45
h100 llama2-70b       128 bf16  256 2 4096 1 1 1 1  1 1 1158.37
h100 llama2-70b       256 bf16  512 2 4096 1 1 1 1  1 1 1145.25
h100 llama2-70b       512 bf16 1024 2 4096 1 1 1 1  1 1 1155.27
h100 llama2-70b      1024 bf16 2048 2 4096 1 1 1 1  1 1 1156.41
h100 llama2-70b      2048 bf16 4096 2 4096 1 1 1 1  1 1 1159.35
h100 llama2-70b        64 fp8   128 2 4096 1 1 1 1  1 1 1894.54
h100 llama2-70b       128 fp8   256 2 4096 1 1 1 1  1 1 1798.07
h100 llama2-70b       256 fp8   512 2 4096 1 1 1 1  1 1 1651.95
h100 llama2-70b       512 fp8  1024 2 4096 1 1 1 1  1 1 1624.43
h100 llama2-70b      1024 fp8  2048 2 4096 1 1 1 1  1 1 1618.33
h100 llama2-70b      2048 fp8  4096 2 4096 1 1 1 1  1 1 1661.65
"""

# Megatron-Core MoE "ModelZoo" best practice for Qwen3-235B-A22B on 256 H100 (BF16, seq 4096, global batch 2048;
# yanring/Megatron-MoE-ModelZoo best_practice/Qwen3/readme.md): step times as tokens/s per GPU (2048 x 4096 /
# step / 256). DeepEP rows: EP 32 across nodes (TP 2, PP 8, VP 4, EP folded over TP x DP), intra-node EP 8 with
# FSDP (micro batch 4, full recomputation), TP 4; run with rainier's hierarchical all-to-all (one copy per
# destination node). The NCCL all-to-all dispatcher row (PP 32, VP 3) runs flat. The 1F1B all-to-all overlap
# row is left out (its overlap is not modelled).
MOE_ZOO_DEEPEP = """
h100 qwen3-235b-a22b 256 bf16 2048 1 4096 0 2 8 1 4 32 1663.4
h100 qwen3-235b-a22b 256 bf16 2048 4 4096 1 2 1 1 1  8 1861.8
h100 qwen3-235b-a22b 256 bf16 2048 1 4096 0 4 8 1 4  8 1129.9
"""
MOE_ZOO_A2A = """
h100 qwen3-235b-a22b 256 bf16 2048 1 4096 0 2 32 1 3 8 1354.1
"""

# Nemotron-4 15B, DGX Cloud recipe v25.02 (NVIDIA/dgxc-benchmarking nemotron/README_15b.md, NeMo 24.12 launcher;
# nemotron4-15b-synth.yaml: TP 4, micro batch 4, 4 accumulation steps, no recomputation, mcore_distributed_optim
# with rainier's default fp32 gradients; its ub_tp_comm_overlap is not modelled), 16-2,048 H100, BF16 and FP8
DGXC_NEMOTRON15 = """
h100   nemotron-4-15b      16 bf16    64 4 4096 0 4 1 1  1 1 5826.4
h100   nemotron-4-15b      32 bf16   128 4 4096 0 4 1 1  1 1 5801.7
h100   nemotron-4-15b      64 bf16   256 4 4096 0 4 1 1  1 1 5758.9
h100   nemotron-4-15b     128 bf16   512 4 4096 0 4 1 1  1 1 5730.7
h100   nemotron-4-15b     256 bf16  1024 4 4096 0 4 1 1  1 1 5744.7
h100   nemotron-4-15b     512 bf16  2048 4 4096 0 4 1 1  1 1 5698.8
h100   nemotron-4-15b    1024 bf16  4096 4 4096 0 4 1 1  1 1 5659.4
h100   nemotron-4-15b    2048 bf16  8192 4 4096 0 4 1 1  1 1 5675.1
h100   nemotron-4-15b      16 fp8     64 4 4096 0 4 1 1  1 1 8035.3
h100   nemotron-4-15b      32 fp8    128 4 4096 0 4 1 1  1 1 8007.8
h100   nemotron-4-15b      64 fp8    256 4 4096 0 4 1 1  1 1 8000.0
h100   nemotron-4-15b     128 fp8    512 4 4096 0 4 1 1  1 1 7957.3
h100   nemotron-4-15b     256 fp8   1024 4 4096 0 4 1 1  1 1 7895.9
h100   nemotron-4-15b     512 fp8   2048 4 4096 0 4 1 1  1 1 7728.3
h100   nemotron-4-15b    1024 fp8   4096 4 4096 0 4 1 1  1 1 7824.3
h100   nemotron-4-15b    2048 fp8   8192 4 4096 0 4 1 1  1 1 7728.3
"""

# NVIDIA DGX Cloud recipes on NeMo 2.0 (NVIDIA/dgxc-benchmarking llama3.1/README.md and nemotron/README.md of
# v25.04-v25.05, containers nemo:25.02-25.04; mean step time of iterations 11-44): Llama 3.1 8B (TP 1, CP 2),
# 70B (BF16: TP 4, PP 4, CP 2, VP 5; FP8: TP 4, PP 8, VP 5), 405B (TP 8 / GB200 TP 4, PP 8, CP 2, VP 8),
# Nemotron-4 15B (TP 2, micro batch 2) and 340B on GB200 (TP 8, PP 4, VP 12). The FP8 Llama recipes set
# grad_reduce_in_fp32 = False. The H100 340B rows are left out: their table says no interleaving but they ran
# faster than the interleaved NeMo 1 recipe of the same size.
NEMO2_BF16 = """
h100   llama3-8b            8 bf16   128 1 8192 0 1 1 2  1 1 10682.4
h100   llama3-8b           16 bf16   256 1 8192 0 1 1 2  1 1 10656.2
h100   llama3-8b           32 bf16   512 1 8192 0 1 1 2  1 1 10639.0
h100   llama3-8b           64 bf16  1024 1 8192 0 1 1 2  1 1 10630.3
h100   llama3-8b          128 bf16  2048 1 8192 0 1 1 2  1 1 10630.3
h100   llama3-70b          64 bf16   128 1 8192 0 4 4 2  5 1 1117.6
h100   llama3-70b         128 bf16   256 1 8192 0 4 4 2  5 1 1116.8
h100   llama3-70b         256 bf16   512 1 8192 0 4 4 2  5 1 1116.1
h100   llama3-70b         512 bf16  1024 1 8192 0 4 4 2  5 1 1116.8
h100   llama3-70b        1024 bf16  2048 1 8192 0 4 4 2  5 1 1118.4
h100   llama3-70b        2048 bf16  4096 1 8192 0 4 4 2  5 1 1117.6
h100   llama3.1-405b      512 bf16   256 1 8192 0 8 8 2  8 1 207.1
h100   llama3.1-405b     1024 bf16   512 1 8192 0 8 8 2  8 1 206.5
h100   llama3.1-405b     2048 bf16  1024 1 8192 0 8 8 2  8 1 206.1
gb200  llama3.1-405b      128 bf16    64 1 8192 0 4 8 2  8 1 438.2
gb200  llama3.1-405b      256 bf16   128 1 8192 0 4 8 2  8 1 431.9
gb200  llama3.1-405b      512 bf16   256 1 8192 0 4 8 2  8 1 430.8
"""
NEMO2_FP8 = """
h100   llama3-8b            8 fp8    128 1 8192 0 1 1 2  1 1 14048.5
h100   llama3-8b           16 fp8    256 1 8192 0 1 1 2  1 1 14003.4
h100   llama3-8b           32 fp8    512 1 8192 0 1 1 2  1 1 13899.5
h100   llama3-8b           64 fp8   1024 1 8192 0 1 1 2  1 1 13826.2
h100   llama3-8b          128 fp8   2048 1 8192 0 1 1 2  1 1 13739.2
h100   llama3-70b          64 fp8    128 1 8192 0 4 8 1  5 1 1661.7
h100   llama3-70b         128 fp8    256 1 8192 0 4 8 1  5 1 1646.6
h100   llama3-70b         256 fp8    512 1 8192 0 4 8 1  5 1 1638.4
h100   llama3-70b         512 fp8   1024 1 8192 0 4 8 1  5 1 1627.0
h100   llama3-70b        1024 fp8   2048 1 8192 0 4 8 1  5 1 1625.4
h100   llama3-70b        2048 fp8   4096 1 8192 0 4 8 1  5 1 1614.2
h100   llama3.1-405b      512 fp8    256 1 8192 0 8 8 2  8 1 331.1
h100   llama3.1-405b     1024 fp8    512 1 8192 0 8 8 2  8 1 329.8
h100   llama3.1-405b     2048 fp8   1024 1 8192 0 8 8 2  8 1 326.1
gb200  llama3.1-405b      128 fp8     64 1 8192 0 4 8 2  8 1 668.1
gb200  llama3.1-405b      256 fp8    128 1 8192 0 4 8 2  8 1 662.5
gb200  llama3.1-405b      512 fp8    256 1 8192 0 4 8 2  8 1 656.0
"""
NEMO2_NEMOTRON = """
h100   nemotron-4-15b      16 bf16    64 2 4096 0 2 1 1  1 1 6159.4
h100   nemotron-4-15b      64 bf16   256 2 4096 0 2 1 1  1 1 6136.3
h100   nemotron-4-15b     256 bf16  1024 2 4096 0 2 1 1  1 1 6113.4
h100   nemotron-4-15b    1024 bf16  4096 2 4096 0 2 1 1  1 1 5979.6
h100   nemotron-4-15b    2048 bf16  8192 2 4096 0 2 1 1  1 1 5893.5
h100   nemotron-4-15b      16 fp8     64 2 4096 0 2 1 1  1 1 8274.8
h100   nemotron-4-15b      64 fp8    256 2 4096 0 2 1 1  1 1 8274.8
h100   nemotron-4-15b     256 fp8   1024 2 4096 0 2 1 1  1 1 8192.0
h100   nemotron-4-15b    1024 fp8   4096 2 4096 0 2 1 1  1 1 8070.9
h100   nemotron-4-15b    2048 fp8   8192 2 4096 0 2 1 1  1 1 7839.2
gb200  nemotron-4-340b    128 bf16    32 1 4096 0 8 4 1 12 1 467.8
gb200  nemotron-4-340b    256 bf16    64 1 4096 0 8 4 1 12 1 467.6
gb200  nemotron-4-340b    512 bf16   128 1 4096 0 8 4 1 12 1 459.4
gb200  nemotron-4-340b    128 fp8     32 1 4096 0 8 4 1 12 1 690.5
gb200  nemotron-4-340b    256 fp8     64 1 4096 0 8 4 1 12 1 675.0
gb200  nemotron-4-340b    512 fp8    128 1 4096 0 8 4 1 12 1 661.1
gb200  nemotron-4-340b    128 bf16   512 1 4096 0 8 4 1 12 1 501.6
gb200  nemotron-4-340b    256 bf16   512 1 4096 0 8 4 1 12 1 494.1
gb200  nemotron-4-340b    512 bf16   512 1 4096 0 8 4 1 12 1 483.7
gb200  nemotron-4-340b    128 fp8    512 1 4096 0 8 4 1 12 1 750.5
gb200  nemotron-4-340b    256 fp8    512 1 4096 0 8 4 1 12 1 730.8
gb200  nemotron-4-340b    512 fp8    512 1 4096 0 8 4 1 12 1 722.7
"""

# MLPerf Training, NVIDIA's NeMo submissions in FP8 (v4.0, v4.1: mlcommons/training_results_v4.0 and a mirror of
# v4.1; v5.0 mirror; v5.1 official): steady-state block throughput of result_0.txt (samples/s x sequence / GPUs;
# evaluation outside the blocks), configurations from each submission's config_*.sh and the logged global batch.
# GPT-3 175B (seq 2048) from its checkpoint, Llama 3.1 405B and 8B (seq 8192). FP4 submissions are left out
# (FP4 training is not modelled); the 8B GB200 config is not stored (its GB300 twin's layout, as its file name).
# Gradients are reduced in bf16 in every one: GPT-3's conf/optim/distributed_fused_adam.yaml sets
# grad_sync_dtype: bf16 (v4.0), the Llama 3.1 implementation's pretrain.py passes grad_reduce_in_fp32=False to
# both MegatronMixedPrecision and the DDP config (v5.0, 405B and 8B).
# The two 72-GPU Llama 3.1 8B rows (v5.1, mlcommons/training_results_v5.1 at 4da2d1cd: NVIDIA/results/
# theia_ngpu72 = GB300 NVL72, tyche_ngpu72 = GB200 NVL72, systems named in NVIDIA/systems/*.json) are GBS 36 x 8192
# tokens over the median logged train_step_time (0.1468 s, 0.1678 s), with the stored config_GB300_18x4x1xtp1pp1cp2
# layout (TP 1, CP 2, DP 36, no TP overlap); the GB200 config is not stored (its GB300 twin's layout, as the
# logged global batch confirms). Their forward-only eval steps (validation_step_time 0.040 / 0.046 s at 72 GPUs,
# 0.021 / 0.022 s at 512) say where the 512-GPU runs lose: four times less work per GPU per forward, only 1.9x
# less time, ~11 ms per forward that rainier's FLOP and byte counts do not carry at 2,048 tokens per GPU. The
# 8-GPU submissions are FP4 (config names end in _8b_fp4) and left out.
MLPERF_TRAIN = """
h100   gpt3-175b         512 fp8  2304 2 2048 0 4 8 1  4 1 845.2
h100   gpt3-175b       10752 fp8  2688 1 2048 0 4 6 1  8 1 556.1
h100   gpt3-175b         256 fp8  2048 2 2048 0 4 8 1  6 1 883.0
b200   gpt3-175b          64 fp8  2048 2 2048 0 4 8 1  6 1 1817.3
h100   llama3.1-405b     512 fp8  1152 1 8192 0 8 8 2  8 1 333.7
h100   llama3.1-405b    8192 fp8  1536 1 8192 0 8 8 2  8 1 291.3
gb200  llama3.1-405b     256 fp8   448 1 8192 0 4 8 2  8 1 745.6
gb200  llama3-8b         512 fp8    64 1 8192 0 2 1 4  1 1 11165.1
gb300  llama3-8b         512 fp8    64 1 8192 0 2 1 4  1 1 11825.9
gb300  llama3-8b          72 fp8    36 1 8192 0 1 1 2  1 1 27901
gb200  llama3-8b          72 fp8    36 1 8192 0 1 1 2  1 1 24410
"""

# NeMo Framework 25.04 performance summary, DGX-GB200, FP8 with per-tensor current scaling (docs.nvidia.com
# nemo-framework/user-guide/latest/performance/archive/25.04-performance-summary.html; only the GB200 table's rows
# that could be read: the B200 and H100 tables were not transcribed). Mixtral 8x22B prints GBS 1 and MBS 64, read
# as GBS 64, MBS 1: that is the only order its DP (256 / (TP 2 x PP 4 x CP 8) = 4) and GA 16 multiply up to.
NEMO_2504 = """
gb200  gpt3-175b         128 fp8   256 2  2048 0 4 4 1 12 1 1804
gb200  llama3-8b           8 fp8   128 2  8192 0 1 1 1  1 1 33099
gb200  llama3-70b         64 fp8   128 1  8192 1 1 1 1  1 1 4035
gb200  llama3.1-405b     128 fp8    64 1  8192 0 4 8 2  8 1 665
gb200  nemotron-4-15b     64 fp8   256 2  4096 0 1 1 1  1 1 17809
gb200  nemotron-4-340b   128 fp8    32 1  4096 0 8 4 1 12 1 737
gb200  mixtral-8x7b       64 fp8   256 2  4096 0 1 1 1  1 8 19275
gb200  mixtral-8x22b     256 fp8    64 1 65536 0 2 4 8 14 8 2731
"""
# NeMo Framework 25.07 performance summary, DGX-GB200 (docs.nvidia.com nemo-framework/user-guide/latest/performance/
# performance-summary.html as of 25.07), the value outside each cell's parentheses: FP8 per-tensor current scaling as
# the page states. The parenthesised second configuration is not labelled in the part of the page that could be
# read (later summaries label it MXFP8) and is left out, as is Llama 4 Maverick (its throughput was not readable).
NEMO_2507 = """
gb200  llama3-8b           8 fp8   128 2  8192 0 1 1 1  1 1 31737
gb200  llama3-70b         64 fp8   128 1  8192 1 1 1 1  1 1 4066
gb200  llama3.1-405b     128 fp8    64 1  8192 1 2 1 1  1 1 706
gb200  llama4-scout       64 fp8  1024 1  8192 0 1 1 1  1 16 13783
"""
# NeMo's long-sequence table for Llama 3 8B, FP8, DGX-B200, container 25.04.rc2 (NVIDIA/NeMo
# docs/source/performance/performance_long_sequence.md; the draft of that table gives GPUs = TP x CP x DP, the
# final version prints the sequence length in K as the GPU count, which no TP x PP x DP x CP multiplies up to; PP 1,
# micro batch 1). Published as TFLOP/s per GPU; tokens/s per GPU here by NeMo's own Llama 3 count,
# L h^2 (12 + 12 g/a + 18 f/h + 12 s/h + 6 V/(L h)) FLOPs per token, the count that turns the 25.04 GB200 table's
# 1,917 TFLOP/s for Llama 3 8B at 8k into its 33,099 tokens/s (33,101).
LONG_SEQ_B200 = """
b200 llama3-8b    2 fp8 512 1    8192 0 1 1  1 1 1 28853.7
b200 llama3-8b    4 fp8 256 1   16384 0 1 1  1 1 1 24252.2
b200 llama3-8b    8 fp8 128 1   32768 0 1 1  2 1 1 16817.2
b200 llama3-8b   16 fp8  64 1   65536 0 1 1  4 1 1 10803.0
b200 llama3-8b   32 fp8  32 1  131072 0 2 1  4 1 1 6322.0
b200 llama3-8b   64 fp8  16 1  262144 0 4 1  4 1 1 3476.6
b200 llama3-8b  128 fp8   8 1  524288 0 4 1  8 1 1 1861.6
b200 llama3-8b  256 fp8   4 1 1048576 0 4 1 16 1 1 949.1
"""

TABLES: dict[str, tuple[str, dict[str, Any]]] = {  # name: (rows, Options)
    "NeMo long sequence (24.03.01, H100 FP8)": (LONG_SEQ, {}),
    "NeMo 24.07/24.09 (H100 FP8)": (NEMO_24, {}),
    "NeMo 24.07/24.09, Nemotron-4 340B (H100 FP8)": (NEMO_24_NEMOTRON, {"grad_dtype": "bf16", "optimizer_dtype": "bf16"}),
    "Megatron-Bridge 25.09 (FP8)": (MB_2509, {"grad_dtype": "bf16"}),
    "DGX Cloud recipes, GPT-3 175B (H100 BF16/FP8)": (DGXC_GPT3, {"grad_dtype": "bf16"}),
    "DGX Cloud recipes, Nemotron-4 340B (H100 BF16/FP8)": (DGXC_NEMOTRON, {"grad_dtype": "bf16",
                                                                           "optimizer_dtype": "bf16"}),
    "DGX Cloud recipes, Llama 3.1 405B, MaxText Llama 2 70B (H100)": (DGXC, {}),
    "DGX Cloud recipes, Nemotron-4 15B (H100 BF16/FP8)": (DGXC_NEMOTRON15, {}),
    "Megatron-MoE ModelZoo Qwen3-235B (DeepEP)": (MOE_ZOO_DEEPEP, {"moe_a2a": "hierarchical"}),
    "Megatron-MoE ModelZoo Qwen3-235B (all-to-all)": (MOE_ZOO_A2A, {}),
    "DGX Cloud NeMo 2.0, Llama 3.1 BF16 (H100, GB200)": (NEMO2_BF16, {}),
    "DGX Cloud NeMo 2.0, Llama 3.1 FP8 (H100, GB200)": (NEMO2_FP8, {"grad_dtype": "bf16"}),
    "DGX Cloud NeMo 2.0, Nemotron-4 15B (H100), 340B (GB200)": (NEMO2_NEMOTRON, {}),
    "MLPerf Training v4.0-v5.1, NVIDIA FP8": (MLPERF_TRAIN, {"grad_dtype": "bf16"}),
    "NeMo 25.04 (GB200 FP8)": (NEMO_2504, {"grad_dtype": "bf16"}),
    "NeMo 25.07 (GB200 FP8)": (NEMO_2507, {"grad_dtype": "bf16"}),
    "NeMo long sequence (25.04, B200 FP8)": (LONG_SEQ_B200, {"grad_dtype": "bf16"}),
}


def run_row(line: str, options: dict[str, Any]) -> dict[str, Any]:
    chip, model, g, _prec, _gbs, _mbs, seq, *_ = line.split()
    out: dict[str, Any] = {"chip": chip, "model": model, "gpus": int(g), "seq": int(seq),
                           "measured": float(line.split()[-1])}
    try:
        r, meas = estimate_row(line, Options(**options))
    except RainierError as exc:
        out["error"] = str(exc)
        return out
    out["predicted"] = r.tokens_per_s_per_chip
    out["err"] = 100.0 * (r.tokens_per_s_per_chip / meas - 1.0)
    out["par"] = r.parallelism
    out["mfu"], out["family"] = r.mfu, r.efficiency_family  # for scripts/compare_baseline.py
    return out


def score() -> dict[str, list[dict[str, Any]]]:
    return {t: [run_row(line, o) for line in rows.strip().splitlines()] for t, (rows, o) in TABLES.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", action="store_true", help="print every row")
    args = ap.parse_args()
    every: list[float] = []
    for title, res in score().items():
        errs = [r["err"] for r in res if "err" in r]
        every += errs
        print(f"{title:42s} rows {len(errs):3d}  MAE {statistics.fmean(abs(e) for e in errs):5.1f}%  "
              f"bias {statistics.fmean(errs):+5.1f}%  worst {max(errs, key=abs):+.1f}%"
              + (f"  ({len(res) - len(errs)} not reproducible)" if len(errs) < len(res) else ""))
        if args.rows:
            for r in res:
                if "err" in r:
                    p = r["par"]
                    print(f"   {r['chip']:6s} {r['model']:16s} {r['gpus']:5d} s{r['seq']:<8d} meas {r['measured']:8.0f} "
                          f"pred {r['predicted']:8.0f} {r['err']:+6.1f}%  (recompute {p['recompute']}, zero "
                          f"{p['zero']}, dp {p['dp']})")
                else:
                    print(f"   {r['chip']:6s} {r['model']:16s} {r['gpus']:5d}  not reproducible: {r['error']}"[:200])
    print(f"{'all':42s} rows {len(every):3d}  MAE {statistics.fmean(abs(e) for e in every):5.1f}%  "
          f"bias {statistics.fmean(every):+5.1f}%")


if __name__ == "__main__":
    main()
