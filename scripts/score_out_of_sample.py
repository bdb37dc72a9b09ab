"""Every published training run rainier is scored on outside its fit, summed up for ``rainier train``.

``rainier train`` states the error to expect of an estimate from the efficiency fit's held-out rows of the
validation table (``heldout`` in ``perf/fits/efficiency.json``): 5 to 30 runs per chip family. The
out-of-sample scripts score several hundred more published runs that nothing is fitted on (llm-foundry's MPT
tables, NVIDIA's NeMo / Megatron-Bridge / DGX Cloud / MLPerf tables, AMD's MAD and MLPerf runs, AWS Neuron's Trn1
tables at other releases, MaxText's v5e / v5p tables, papers' runs). This script runs them all, each with the
settings its own script gives it, and writes ``perf/fits/out_of_sample.json``:

* ``families``: per accelerator family (the catalog's ``family`` of the run's chip) and kind of model (dense,
  MoE), the out-of-sample runs' mean absolute error, bias and worst error of the predicted throughput
  (positive: predicted faster than measured) and the share of runs within 25%;
* ``models``: per catalog model, every published run of it rainier scores and did not fit on (the validation
  table's held-out rows and the out-of-sample runs), with its bias per family: a model that is predicted
  consistently too fast or too slow on every system carries a cost, or a saving, that rainier does not model,
  and an estimate of it says so;
* ``sources``: the same per source table, as each check script prints it.

Errors are of the predicted throughput whatever the source's metric (MFU, TFLOP/s, tokens/s, iteration time),
so they are comparable across sources. Runs a script cannot reproduce (its printout says why) are left out;
AWS Neuron's runs of a fit row's configuration at other releases are left out (their configuration is fitted).
The estimates depend on the efficiency fit: rerun this after ``scripts/fit_efficiency.py`` (the test suite
checks that the shipped file is this script's output). Run from the repository root::

    python scripts/score_out_of_sample.py
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rainier.catalog.loader import Catalog, default_catalog  # noqa: E402
from rainier.errors import RainierError  # noqa: E402
from rainier.io import atomic_write_text  # noqa: E402
from rainier.perf.compute import error_record  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "src" / "rainier" / "perf" / "fits" / "out_of_sample.json"
VALIDATION = "validation table, held-out rows"


def _foundry() -> Iterator[dict[str, Any]]:
    import check_foundry_table as m

    for r in m.score():
        yield {"source": f"llm-foundry {r['table']}", "chip": m.TABLES[r["table"]][1], "model": f"mpt-{r['size']}",
               "err": r["err"]}


def _nemo() -> Iterator[dict[str, Any]]:
    import check_nemo_tables as m

    for table, rows in m.score().items():
        for r in rows:
            if "err" in r:
                yield {"source": table, "chip": r["chip"], "model": r["model"], "err": r["err"]}


def _unlisted() -> Iterator[dict[str, Any]]:
    import check_unlisted_training as m

    for title, rows in (("Megatron-Bridge 25.11, rows outside the validation table", m.ROWS_2511),
                        ("Megatron-Bridge 26.02 (final table)", m.ROWS_2602)):
        for line in rows.strip().splitlines():
            chip, model, *_ = line.split()
            try:
                e = m.run_line(line)
            except RainierError:
                continue
            yield {"source": title, "chip": chip, "model": model, "err": e}


def _amd() -> Iterator[dict[str, Any]]:
    import check_amd_training as m

    for name, runner, line in m.runs():
        chip, model, *_ = line.split()
        try:
            _, pred, meas = runner(line)
        except RainierError:
            continue
        yield {"source": f"AMD {name}", "chip": chip, "model": model, "err": 100.0 * (pred / meas - 1.0)}


def _neuron() -> Iterator[dict[str, Any]]:
    import check_neuron_training as m

    for line in m.ROWS.strip().splitlines():
        if m.group(line) != "held_out":
            continue  # a fit row's configuration at another SDK release
        try:
            _, pred, meas = m.run(line)
        except RainierError:
            continue
        yield {"source": "AWS Neuron Trn1 tables (other SDK releases)", "chip": "trn1", "model": line.split()[0],
               "err": 100.0 * (pred / meas - 1.0)}


def _maxtext() -> Iterator[dict[str, Any]]:
    import check_maxtext_table as m

    for r in m.score():
        if "err" in r:
            yield {"source": "MaxText v5e / v5p tables", "chip": r["chip"], "model": f"maxtext-{r['scale']}b",
                   "err": r["err"]}


def _papers() -> Iterator[dict[str, Any]]:
    import check_paper_runs as m

    cat = default_catalog()
    for table, runs in m.TABLES.items():
        for run in runs:
            try:
                _, pred = m.predict(run, cat)
            except RainierError:
                continue
            yield {"source": table, "chip": run.chip, "model": run.model, "err": m.error_pct(run, pred)}


def _validation() -> Iterator[dict[str, Any]]:
    """The validation table's held-out rows (for the per-model record only: the family record of these is
    ``heldout`` in efficiency.json)."""
    from rainier.perf.validate_training import ROWS, throughput_error_pct, validate_training

    for r in validate_training().rows:
        if r.error_pct is not None and not r.fitted:
            yield {"source": VALIDATION, "chip": ROWS[r.id].chip, "model": ROWS[r.id].model,
                   "family": r.family, "err": throughput_error_pct(r)}


SOURCES: tuple[Callable[[], Iterator[dict[str, Any]]], ...] = (
    _foundry, _nemo, _unlisted, _amd, _neuron, _maxtext, _papers)


def runs() -> list[dict[str, Any]]:
    """Every scored run: source, chip, model, err (signed throughput error, %), and the validation table's
    held-out rows (source ``VALIDATION``, with their ``family``)."""
    return [r for src in (*SOURCES, _validation) for r in src()]


def _kind(cat: Catalog, model: str) -> str:
    try:
        return "moe" if cat.model(model).moe is not None else "dense"
    except RainierError:
        return "dense"  # MaxText's synthetic scales are dense transformers outside the catalog


def _summary(rs: list[dict[str, Any]], basis: str) -> dict[str, Any]:
    return error_record([float(r["err"]) for r in rs], basis)


def build_doc(every: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The file's content (see the module docstring)."""
    cat = default_catalog()
    every = runs() if every is None else every
    for r in every:  # the validation rows carry theirs (variants such as the Grand Teton H100 are not catalog chips)
        if "family" not in r:
            r["family"] = cat.accelerator(r["chip"]).family
    oos = [r for r in every if r["source"] != VALIDATION]
    by_fam: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for r in oos:
        by_fam[r["family"]][_kind(cat, r["model"])].append(r)
    def n_sources(rs: list[dict[str, Any]]) -> str:
        n = len({r["source"] for r in rs})
        return f"{n} source{'s' if n > 1 else ''}"

    families = {f: {k: _summary(rs, f"published runs of {k} models on {f} outside the validation table "
                                    f"({n_sources(rs)})")
                    for k, rs in sorted(kinds.items())} for f, kinds in sorted(by_fam.items())}
    by_model: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in every:
        by_model[r["model"]].append(r)
    models = {}
    for name, rs in sorted(by_model.items()):
        fams = sorted({r["family"] for r in rs})
        s = _summary(rs, f"published runs of {name} rainier did not fit on, on {', '.join(fams)}")
        bias = {f: round(sum(float(r["err"]) for r in rs if r["family"] == f)
                         / sum(1 for r in rs if r["family"] == f), 1) for f in fams}
        models[name] = {**s, "families": fams, "bias_by_family_pct": bias, "chips": sorted({r["chip"] for r in rs})}
    by_src: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in oos:
        by_src[r["source"]].append(r)
    sources = {s: _summary(rs, s) for s, rs in by_src.items()}
    return {"generated_by": "python scripts/score_out_of_sample.py",
            "sign": "predicted throughput vs measured: positive = predicted faster than measured",
            "runs": len(oos), "overall": _summary(oos, "every out-of-sample run"),
            "families": families, "models": models, "sources": sources}


def main() -> None:
    doc = build_doc()
    atomic_write_text(OUT, json.dumps(doc, indent=2) + "\n")
    print(f"{doc['runs']} out-of-sample runs: MAE {doc['overall']['mape_pct']}%, bias {doc['overall']['bias_pct']:+}%")
    print(f"\n{'source':60s} {'runs':>5s} {'MAE':>6s} {'bias':>7s} {'worst':>7s}")
    for s, v in doc["sources"].items():
        print(f"{s[:60]:60s} {v['rows']:5d} {v['mape_pct']:5.1f}% {v['bias_pct']:+6.1f}% {v['worst_pct']:+6.1f}%")
    print(f"\n{'family':22s} {'kind':5s} {'runs':>5s} {'MAE':>6s} {'bias':>7s} {'worst':>7s}")
    for f, kinds in doc["families"].items():
        for k, v in kinds.items():
            print(f"{f:22s} {k:5s} {v['rows']:5d} {v['mape_pct']:5.1f}% {v['bias_pct']:+6.1f}% {v['worst_pct']:+6.1f}%")
    print(f"\n{'model (held-out validation rows + out of sample)':48s} {'runs':>5s} {'MAE':>6s} {'bias':>7s} "
          f"{'worst':>7s}  families")
    for name, v in doc["models"].items():
        print(f"{name:48s} {v['rows']:5d} {v['mape_pct']:5.1f}% {v['bias_pct']:+6.1f}% {v['worst_pct']:+6.1f}%  "
              f"{', '.join(v['families'])}")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
