"""Out-of-sample check of the training model on AWS Trainium1 runs that are NOT in the validation table.

Nothing is fitted on these rows. Source: AWS Neuron's "Trn1/Trn1n Training Performance" tables, as kept in the
aws-neuron/aws-neuron-sdk repository (``general/benchmarks/trn1/training_data_decoder.csv``, later
``about-neuron/benchmarks/trn1/``) at the commits named per row, each a dated release of the page; a helper
transcribed them (numbers as published). Every row: 16 or 32 trn1.32xlarge nodes (16 Trainium1 chips each),
microbatch 1, global batch 1024 sequences, AdamW, "strong scaling", "Performance [seq/sec]" of the whole job.

The tables count TP / PP / DP in NeuronCores, two per Trainium1 chip: "TP=32" is 16 chips, one node. Only
NeuronX Distributed (NxD) rows are used: their TP x PP x DP is the job's core count. The NeMo-Megatron rows
of the same tables are left out (several state a DP that does not multiply up to the node count), except
GPT-3 175B from the January 2024 page, whose topology is consistent. NxD rows train with "BF16 autocast + FP32
optimizer" (fp32 master weights and Adam state, rainier's default); NeMo's "BF16 + stochastic rounding" keeps
no fp32 copy (run as ``optimizer_dtype="bf16"``). Recomputation, interleaving and ZeRO stage are searched, as
``rainier validate training`` does for the validation rows of these tables (rows 96-98 and 100; rows 74 and 99
fix ZeRO-1, which the search picks here too).

The same configurations appear in the validation table at other SDK releases, and two of them are fit rows of
the Trainium1 efficiency (row 74: Llama-3.1-8B TP 32 DP 32; row 97: Llama2-13B TP 8 PP 4 DP 32). Rows of those
two configurations measure the spread between SDK releases, not the model: they are marked ``fit-config``
and scored apart. The spread is large: Llama-3.1-8B went 49.47 (2.20), 53.51 (2.21, December 2024 page),
41.99 (2.21 again, May 2025 page: validation row 74), 47.95 (2.24: row 99) seq/s with nothing else changed.
Run from the repository root::

    python scripts/check_neuron_training.py
"""

from __future__ import annotations

import statistics
from typing import Any

from oos import attempt

from rainier.catalog.loader import default_catalog
from rainier.errors import RainierError
from rainier.perf.training import Options, TrainingResult
from rainier.perf.validate_training import estimate_as_run

# model, nodes, seq, TP, PP, DP (NeuronCores), stack, SDK, commit of the table, seq/s, note
#   fit-config: the configuration of a Trainium1 fit row (74 or 97) at another SDK release
ROWS = """
llama3-8b   32 8192 32 1 32 nxd  2.20.0 907af9f8 49.47 fit-config
llama3-8b   32 8192 32 1 32 nxd  2.21.0 752349fd 53.51 fit-config
llama3-70b  32 8192 32 8 4  nxd  2.20.0 907af9f8 7.59  -
llama3-70b  32 8192 32 8 4  nxd  2.21.0 752349fd 7.97  -
llama3-70b  32 8192 32 8 4  nxd  2.22.0 may-2025 7.51  -
llama2-7b   16 4096 8  1 64 nxd  2.16.0 1351ee12 93.3  -
llama2-7b   16 4096 8  1 64 nxd  2.20.0 907af9f8 101.3 -
llama2-7b   16 4096 8  1 64 nxd  2.21.0 752349fd 95.14 -
llama2-13b  32 4096 8  4 32 nxd  2.16.0 1351ee12 85.65 fit-config
llama2-13b  32 4096 8  8 16 nxd  2.20.0 907af9f8 84.0  -
llama2-13b  32 4096 8  8 16 nxd  2.21.0 752349fd 80.33 -
llama2-70b  32 4096 32 4 8  nxd  2.16.0 1351ee12 15.34 -
llama2-70b  32 4096 32 8 4  nxd  2.20.0 907af9f8 14.2  -
llama2-70b  32 4096 32 8 4  nxd  2.21.0 752349fd 14.44 -
gpt3-175b   32 2048 32 8 4  nemo 2.15.2 1351ee12 13.3  -
"""

CHIPS_PER_NODE = 16
CORES_PER_CHIP = 2
GLOBAL_BATCH = 1024


def run(line: str) -> tuple[TrainingResult, float, float]:
    """(rainier's estimate, predicted seq/s, measured seq/s) of one table row."""
    model, nodes, seq, tp, pp, dp, stack, *_, meas, _note = line.split()
    chips = int(nodes) * CHIPS_PER_NODE
    tp_chips = int(tp) // CORES_PER_CHIP
    if tp_chips * int(pp) * int(dp) != chips:  # TP counts cores, DP replicas: TP/2 x PP x DP chips
        raise RainierError(f"{model}: TP {tp} x PP {pp} x DP {dp} cores is not {nodes} nodes", field="ROWS",
                           fix="check the table's topology")
    fixed: dict[str, Any] = {"tp": tp_chips, "pp": int(pp), "dp": int(dp), "cp": 1, "micro_batch": 1}
    opt = Options(optimizer_dtype="bf16") if stack == "nemo" else Options()
    cat = default_catalog()
    res = estimate_as_run(cat.model(model), "trn1", chips, options=opt, seq=int(seq), global_batch=GLOBAL_BATCH,
                          parallelism=fixed, catalog=cat, system="trn1.32xlarge")
    return res, GLOBAL_BATCH / res.step_time_s, float(meas)


def group(line: str) -> str:
    """``fit_config`` for a fit row's configuration at another release, else ``held_out``."""
    return "fit_config" if line.split()[-1] == "fit-config" else "held_out"


def score() -> dict[str, list[float]]:
    """Signed errors (%): ``held_out`` (configurations no fit row has) and ``fit_config``."""
    out: dict[str, list[float]] = {"held_out": [], "fit_config": []}
    for line in ROWS.strip().splitlines():
        _, pred, meas = run(line)
        out[group(line)].append(100.0 * (pred / meas - 1.0))
    return out


def main() -> None:
    print(f"{'model':11s} {'chips':>5s} {'seq':>5s} {'TP/PP/DP chips':>15s} {'SDK':7s} {'measured':>8s} {'pred':>7s} "
          f"{'err':>7s}  searched")
    errs: dict[str, list[float]] = {"held_out": [], "fit_config": []}
    for line in ROWS.strip().splitlines():
        f = line.split()
        got = attempt(run, line, f"{f[0]:11s}")
        if got is None:
            continue
        res, pred, meas, e = got
        key = group(line)
        errs[key].append(e)
        p = res.parallelism
        shape = f"{p['tp']}/{p['pp']}/{p['dp']}"
        mark = " (fit-row configuration)" if key == "fit_config" else ""
        mis = " memory misfit" if any(x.startswith("memory misfit") for x in res.notes) else ""
        print(f"{f[0]:11s} {res.chips:5d} {res.seq:5d} {shape:>15s} {f[7]:7s} {meas:8.2f} {pred:7.2f} {e:+6.1f}%  "
              f"vp {p['vp']}, recompute {p['recompute']}, ZeRO {p['zero']}{mis}{mark}")
    for key, v in errs.items():
        if v:
            print(f"{key}: {len(v)} rows, mean absolute error {statistics.mean(abs(x) for x in v):.1f}%, "
                  f"bias {statistics.mean(v):+.1f}%")


if __name__ == "__main__":
    main()
