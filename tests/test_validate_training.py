"""Regression guard: the training model against published measured runs (rainier validate training).

The issue's target is a held-out MAPE <= 10% with no row beyond 25%, on the shared reference table (rows
1-76). With the memory check on (the search only picks configurations that fit rainier's memory model)
and the fit set chosen by a rule declared before fitting (scripts/fit_efficiency.py, revisions 1-8), the
held-out MAPE there is 7.9%: the MAPE target is met and guarded at the target itself. The per-row target
is not: two rows are beyond 25% (MPT-30B at 8k on 8 GPUs, gpt-oss on GB200). Rows 77-110 are published runs
rainier added (TPU v5p/v6e/Ironwood, Trainium1, MI325X/MI355X, and NVIDIA's NVFP4 runs on GB200/GB300), scored
apart (18.3% held out): dense runs are within 26% (the three held-out NVFP4 runs 9.4%); MaxText MoE runs on Ironwood are 44-137% fast (not explained); Mixtral on v6e, run on its GShard einsum dispatch with capacity 1.25, is -5%.
"""

from __future__ import annotations

import json

import pytest

from rainier.perf.validate_training import ADDED_ROWS, ROWS, TARGET_MAPE, load_rows, validate_training

HELDOUT_MAPE_GUARD = TARGET_MAPE  # today 7.9% (rule-chosen fit set, memory check on): the target
AMPERE_MAPE_GUARD = TARGET_MAPE  # today 5.7%
ADDED_MAPE_GUARD = 25.0  # today 18.3% (26 held-out rows of TPU v5p/v6e/Ironwood, Trainium1, MI325X, NVFP4 on GB200/GB300)


@pytest.fixture(scope="module")
def report():
    return validate_training()


def test_every_row_is_predicted_or_has_a_reason(report):
    assert len(report.rows) == len(load_rows())
    for r in report.rows:
        if r.usable:
            assert r.predicted is not None and r.predicted > 0 and r.error_pct is not None
        else:
            assert len(r.reason) > 10, r.id
    assert report.n_heldout >= 30 and report.n_fitted <= 18


def test_fit_set_is_small_and_excluded(report):
    fitted = [r for r in report.rows if r.fitted]
    assert 1 <= len(fitted) <= 18
    fams = {r.family for r in fitted}
    for fam in fams:
        assert sum(1 for r in fitted if r.family == fam) <= 4
    held = [r for r in report.rows if r.usable and not r.fitted and not r.added]
    assert report.mape_heldout == pytest.approx(sum(abs(r.error_pct) for r in held) / len(held))
    added = [r for r in report.rows if r.usable and not r.fitted and r.added]
    assert report.n_heldout_added == len(added) >= 15
    assert report.mape_heldout_added == pytest.approx(sum(abs(r.error_pct) for r in added) / len(added))


def test_heldout_mape_regression_guard(report):
    assert report.mape_heldout <= HELDOUT_MAPE_GUARD, (
        f"held-out MAPE {report.mape_heldout:.1f}% exceeds the guard {HELDOUT_MAPE_GUARD}%")
    # the other vendors' runs rainier added (TPU, Trainium1, AMD): no target of the issue's; guarded against
    # regression at today's level plus a margin
    assert report.mape_heldout_added is not None and report.mape_heldout_added <= ADDED_MAPE_GUARD
    # dense runs on every added vendor stay within 30% (MoE on TPU does not: see the module docstring)
    from rainier.catalog.loader import default_catalog
    cat = default_catalog()
    dense = [r for r in report.rows if r.added and r.usable and not r.fitted
             and cat.model(ROWS[r.id].model).moe is None]
    assert dense and all(abs(r.error_pct) <= 30 for r in dense), [(r.id, r.error_pct) for r in dense]


def test_ampere_meets_the_issue_target(report):
    assert report.mape_by_family["nvidia-ampere"] <= AMPERE_MAPE_GUARD
    amp = [r for r in report.rows if r.usable and not r.fitted and r.family == "nvidia-ampere"]
    assert len(amp) >= 12
    assert sum(1 for r in amp if abs(r.error_pct) > 25) <= 1


def test_recipes_cover_the_table():
    ids = {int(r["id"]) for r in load_rows()}
    assert ids <= set(ROWS)


def test_cli_validate_training_json(run_cli):
    rc, out, _ = run_cli("validate", "training", "--json")
    assert rc == 0
    d = json.loads(out)
    assert {"rows", "mape_heldout", "mape_by_family", "max_err_row"} <= set(d)
    assert {"memory_misfits", "fit_rule"} <= set(d)
    assert all({"settings", "memory_gb", "memory_fits"} <= set(r) for r in d["rows"])
    rc, out, _ = run_cli("validate", "training")
    assert rc == 0 and "MAPE" in out and "unusable" in out and "fit rule" in out


def test_cli_validate_training_row_explains_the_score(run_cli, report):
    """--row shows one row in full; its estimate is the one scored (the breakdown adds up to the step time)."""
    rc, out, _ = run_cli("validate", "training", "--row", "56", "--row", "17", "--json")
    assert rc == 0
    got = json.loads(out)["rows"]
    assert [g["row"]["id"] for g in got] == [56, 17]
    scored = next(r for r in report.rows if r.id == 56)
    assert got[0]["row"]["predicted"] == pytest.approx(scored.predicted)
    est = got[0]["estimate"]
    assert est["parallelism"]["ep"] == 64 and est["tokens_per_s_per_chip"] == pytest.approx(scored.predicted)
    parts = sum(v for k, v in est["breakdown"].items() if k != "recompute_in_compute")
    assert parts == pytest.approx(est["step_time_s"], rel=1e-6)
    assert got[1]["row"]["usable"] is False and got[1]["estimate"] is None
    rc, out, _ = run_cli("validate", "training", "--row", "68")
    assert rc == 0 and "measured" in out and "step time" in out
    rc, _, err = run_cli("validate", "training", "--row", "999")
    assert rc == 2 and "--row" in err and "Traceback" not in err


def test_fit_set_follows_the_stated_rule(report):
    """The fit rows are exactly what the rule in scripts/fit_efficiency.py selects (no hand-picking)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "fit_efficiency.py"
    spec = importlib.util.spec_from_file_location("fit_efficiency", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    chosen = sorted(i for ids in mod.select_fit_rows().values() for i in ids)
    assert chosen == sorted(r.id for r in report.rows if r.fitted)
    assert report.fit_rule == mod.FIT_RULE


def test_published_configs_fit_memory_or_are_listed(report):
    for r in report.rows:
        if r.usable:
            assert r.memory_fits is not None and r.memory_gb is not None
            if r.memory_fits:
                assert r.memory_gb <= r.memory_usable_gb + 1e-6
            else:
                assert r.id in report.memory_misfits and "GB" in r.memory_misfit


def _script(name: str):
    import importlib.util
    import sys
    from pathlib import Path

    scripts = Path(__file__).resolve().parents[1] / "scripts"
    sys.path.insert(0, str(scripts))
    spec = importlib.util.spec_from_file_location(name, scripts / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_out_of_sample_llm_foundry_bf16_tables():
    """llm-foundry's whole MPT table (H100 / A100 80GB / A100 40GB, bf16), minus validation rows 67-73:
    184 published runs nothing is fitted on. Today: MAE 8.3%, 166 of 184 within 15%."""
    mod = _script("check_foundry_table")
    rows = mod.score(mod.BF16_TABLES)
    assert len(rows) >= 180
    errs = [abs(r["err"]) for r in rows]
    assert sum(errs) / len(errs) <= 10.0
    assert sum(e <= 15.0 for e in errs) >= 0.8 * len(errs)
    # and per chip: no GPU generation carries the average
    for t in mod.BF16_TABLES:
        e_t = [abs(r["err"]) for r in rows if r["table"] == t]
        assert sum(e_t) / len(e_t) <= 12.0, t


def test_out_of_sample_paper_runs_and_amd():
    """Published runs of papers and blogs (IBM's FSDP table, MegaScale's Megatron-LM baseline, MT-NLG, Nemotron-4 15B,
    TinyLlama, BloombergGPT, torchtitan on H200: 27 runs, 18.8% today, nearly all fast) and AMD's MAD / MLPerf runs
    (11, 9.9% today; MI300X +17%, MI325X 2%). Guards against regressions; the paper runs are a known weakness."""
    paper = _script("check_paper_runs").score()
    every = [abs(e) for es in paper.values() for e in es]
    assert len(every) == 27 and sum(every) / len(every) <= 25.0
    h200 = next(es for t, es in paper.items() if "H200" in t)
    assert len(h200) == 2 and max(abs(e) for e in h200) <= 15.0
    mega = next(es for t, es in paper.items() if t.startswith("MegaScale"))
    assert sum(abs(e) for e in mega) / len(mega) <= 12.0 and max(abs(e) for e in mega) <= 20.0
    ibm = next(es for t, es in paper.items() if t.startswith("IBM"))
    assert sum(abs(e) for e in ibm) / len(ibm) <= 25.0
    amd = _script("check_amd_training").score()
    errs = [abs(e) for es in amd.values() for e in es]
    assert len(errs) == 11 and sum(errs) / len(errs) <= 15.0
    assert sum(abs(e) for e in amd["mi325x"]) / len(amd["mi325x"]) <= 10.0  # the chip the AMD fit rows are on


def test_out_of_sample_neuron_tables():
    """AWS Neuron's Trn1 training tables at SDK releases the validation set does not hold (NxD Llama 2 / 3.1,
    NeMo GPT-3 175B): 12 runs of configurations no fit row has, 19.2% today and all slow (the Trainium1 fit sits
    on row 74, the slowest of four published measurements of its configuration), plus 3 runs of fit-row
    configurations at other releases (8.4%). Guards against regressions; a known weakness."""
    res = _script("check_neuron_training").score()
    held, fitc = res["held_out"], res["fit_config"]
    assert len(held) == 12 and len(fitc) == 3
    assert sum(abs(e) for e in held) / len(held) <= 25.0
    assert max(abs(e) for e in held) <= 35.0
    assert sum(abs(e) for e in fitc) / len(fitc) <= 15.0


def test_out_of_sample_nemo_tables():
    """NeMo's long-sequence table (4K-1M tokens, CP up to 32), its other 24.07/24.09 H100 FP8 rows, Megatron-Bridge
    25.09, NVIDIA's DGX Cloud recipes, Megatron-Core's MoE ModelZoo and NVIDIA's MLPerf Training submissions: 174
    published runs outside the validation set. Today: 5.7%, 11.6% (+ its Nemotron-4 340B rows 2.3%), 14.8%, DGX Cloud
    5.4% / 4.1% / 9.6% / 7.0%, ModelZoo MoE 11.4%, NeMo 2.0 DGX Cloud 8-11%, MLPerf Training 23.5%; 10.1% all."""
    res = _script("check_nemo_tables").score()
    errs = {t: [abs(r["err"]) for r in rows if "err" in r] for t, rows in res.items()}
    every = [e for es in errs.values() for e in es]
    assert len(every) >= 165
    assert sum(every) / len(every) <= 15.0
    long_seq = next(es for t, es in errs.items() if t.startswith("NeMo long"))
    assert len(long_seq) == 9 and sum(long_seq) / 9 <= 10.0 and max(long_seq) <= 20.0


def test_shipped_fit_is_what_the_fit_script_produces():
    """efficiency.json is the output of scripts/fit_efficiency.py on the current model, not a stale or hand-edited
    copy: rerunning the fit (about a second) gives the shipped values to within the script's rounding."""
    import json
    from pathlib import Path

    mod = _script("fit_efficiency")
    shipped = json.loads(Path(mod.OUT).read_text(encoding="utf-8"))
    doc = mod.build_doc()
    assert doc["fit_rows"] == shipped["fit_rows"] and doc["fit_rule"] == shipped["fit_rule"]
    assert set(doc["families"]) == set(shipped["families"])
    for fam, got in doc["families"].items():
        want = shipped["families"][fam]
        assert set(got) == set(want), fam
        for k, v in got.items():
            if k == "fit_errors_pct":
                assert v == pytest.approx(want[k], abs=0.05), fam
            elif k == "heldout":
                # held-out accuracy per kind of model, rounded to 0.1%: equal up to that rounding
                assert set(v) == set(want[k]), fam
                for kind, st in v.items():
                    assert st["rows"] == want[k][kind]["rows"] and st["basis"] == want[k][kind]["basis"]
                    for m in ("mape_pct", "bias_pct", "worst_pct"):
                        assert st[m] == pytest.approx(want[k][kind][m], abs=0.15), (fam, kind, m)
            elif isinstance(v, float):
                # the script rounds to 4 significant decimals (7 for the host time): rounding, not drift
                assert v == pytest.approx(want[k], rel=1e-3, abs=1e-9), (fam, k)
            elif k != "source":
                assert v == want[k], (fam, k)


def test_estimates_carry_the_accuracy_their_family_was_validated_to():
    """Every training estimate says how far to trust it: the held-out error of its chip family's fit on the same
    kind of model, computed by the fit script from `rainier validate training`'s rows (not typed in)."""
    from rainier.perf import compute as C
    from rainier.perf.training import estimate_training

    fams = C.load_fits()["families"]
    dense = estimate_training("llama3-70b", "h100", 64, seq=4096, global_batch=256)
    moe = estimate_training("mixtral-8x7b", "h100", 64, seq=4096, global_batch=256)
    assert dense.accuracy == fams["nvidia-hopper"]["heldout"]["dense"]
    assert moe.accuracy == fams["nvidia-hopper"]["heldout"]["moe"]
    assert dense.accuracy["rows"] >= 10 and 0 < dense.accuracy["mape_pct"] < 15
    assert abs(dense.accuracy["bias_pct"]) <= dense.accuracy["mape_pct"]
    assert any(n.startswith("accuracy: ") for n in dense.notes)
    # a chip with no measured runs borrows its prior family's figures and says so
    trn2 = estimate_training("llama3-8b", "trn2", 64, seq=4096, global_batch=256)
    assert trn2.accuracy["basis"].startswith("none measured on aws-neuron-v3")
    assert trn2.accuracy["mape_pct"] == fams["aws-neuron-v2"]["heldout"]["dense"]["mape_pct"]
    assert "accuracy" in dense.to_dict()


def test_the_report_scores_the_baseline_on_exactly_its_held_out_rows(report):
    """`rainier validate training` carries the fixed-efficiency baseline: one error per held-out row, none for a
    fit row, and a baseline fitted on the fit rows reproduces them on average (its constants are not a strawman)."""
    b = report.baseline
    held = {r.id for r in report.rows if r.usable and not r.fitted and r.error_pct is not None}
    assert set(b["errors_pct"]) == held
    ref = [i for i in held if i not in ADDED_ROWS]
    assert b["mape_heldout"] == pytest.approx(sum(abs(b["errors_pct"][i]) for i in ref) / len(ref))
    assert report.mape_heldout <= 0.5 * b["mape_heldout"]
    # one MFU per family, and one per family's fp4 runs (MFU over the fp4 peak) where an fp4 row is a fit row
    assert set(b["constants"]) == {r.family + ("/fp4" if ROWS[r.id].precision == "fp4" else "")
                                   for r in report.rows if r.fitted}


def test_physics_beats_a_fixed_efficiency_model_on_the_same_rows():
    """The llm-analysis-style baseline (step = model FLOPs / (chips x peak x one MFU per family), the MFU fitted on
    rainier's own fit rows) scored on the same held-out rows and metrics: rainier must stay far ahead. Today:
    reference rows 7.9% vs 36.1%, all 77 held-out rows 11.4% vs 32.0%, 70 vs 46 rows within 25%."""
    res = _script("compare_baseline").score()
    ref, every = res["reference"], res["all"]
    assert ref["rows"] == 51 and every["rows"] >= 70
    assert ref["rainier"] <= 0.5 * ref["baseline"]
    assert every["rainier"] <= 0.6 * every["baseline"]
    assert every["rainier_within_25"] > every["baseline_within_25"]
    # the baseline is fitted: on its own fit rows it is exact on average, so its held-out error is not a strawman
    assert all(0.15 <= c <= 0.7 for c in res["constants"].values())


def test_shipped_out_of_sample_scores_are_what_the_script_produces():
    """out_of_sample.json is scripts/score_out_of_sample.py's output with the shipped parameters: every published
    run of the out-of-sample scripts (several hundred, about two seconds) scored again gives the same summaries."""
    import json

    mod = _script("score_out_of_sample")
    shipped = json.loads(mod.OUT.read_text(encoding="utf-8"))
    doc = mod.build_doc()
    assert doc["runs"] == shipped["runs"] >= 450
    for part in ("families", "models", "sources"):
        assert doc[part].keys() == shipped[part].keys(), part
    pairs = [(doc["overall"], shipped["overall"])]
    pairs += [(doc["families"][f][k], shipped["families"][f][k]) for f in doc["families"] for k in doc["families"][f]]
    pairs += [(doc[p][n], shipped[p][n]) for p in ("models", "sources") for n in doc[p]]
    for got, want in pairs:
        assert got["rows"] == want["rows"] and got["basis"] == want["basis"]
        for m in ("mape_pct", "bias_pct", "worst_pct", "within_25_pct"):
            assert got[m] == pytest.approx(want[m], abs=0.15), (got["basis"], m)


def test_out_of_sample_summaries_count_every_run_once(report):
    """The file's records partition the same runs: the families' and the sources' run counts both add up to the
    total, and each model's runs include its out-of-sample ones (a model record adds the validation table's
    held-out rows of that model)."""
    from rainier.perf import compute as C

    doc = C._out_of_sample()
    total = doc["runs"]
    assert sum(v["rows"] for kinds in doc["families"].values() for v in kinds.values()) == total
    assert sum(v["rows"] for v in doc["sources"].values()) == total
    held_out = sum(1 for r in report.rows if r.error_pct is not None and not r.fitted)
    assert sum(v["rows"] for v in doc["models"].values()) == total + held_out
    for v in doc["models"].values():
        assert set(v["bias_by_family_pct"]) == set(v["families"])
        assert min(v["bias_by_family_pct"].values()) - 0.06 <= v["bias_pct"] <= max(v["bias_by_family_pct"].values()) + 0.06


def test_estimates_carry_the_out_of_sample_accuracy_and_flag_a_model_off_everywhere():
    """An estimate also reports the out-of-sample runs of its kind of model on its family and every scored run of
    its model; a model predicted too fast on each of its chip families (gpt-oss) is flagged as an upper bound, one
    whose families disagree in sign, or that is close on average, is not."""
    from rainier.perf import compute as C
    from rainier.perf.training import Options, _out_of_sample_notes, estimate_training

    doc = C._out_of_sample()
    oss = estimate_training("gpt-oss-120b", "gb200", 64, seq=8192, global_batch=1280)
    assert oss.accuracy_out_of_sample["family"] == doc["families"]["nvidia-blackwell"]["moe"]
    assert oss.accuracy_out_of_sample["model"] == doc["models"]["gpt-oss-120b"]
    assert any("upper bound" in n for n in oss.notes)
    llama = estimate_training("llama3-70b", "h100", 64, seq=8192, global_batch=256)
    assert llama.accuracy_out_of_sample["family"]["rows"] >= 100
    assert any(n.startswith("accuracy, this model: ") for n in llama.notes)
    assert not any("bound on its throughput" in n for n in llama.notes)
    assert "accuracy_out_of_sample" in llama.to_dict()
    # Trainium2 has no runs of its own: it reports Trainium1's, whose fit it takes, and says so
    trn2 = estimate_training("llama3-8b", "trn2", 64, seq=4096, global_batch=256).accuracy_out_of_sample
    assert trn2["family"]["rows"] == doc["families"]["aws-neuron-v2"]["dense"]["rows"]
    assert trn2["family"]["basis"].startswith("none measured on aws-neuron-v3")
    # the rule itself: far off on average and the same way on every family
    rec = {"rows": 6, "mape_pct": 40.0, "bias_pct": -40.0, "worst_pct": -60.0, "within_25_pct": 20.0,
           "basis": "b", "families": ["a", "b"], "bias_by_family_pct": {"a": -30.0, "b": -50.0}}
    assert "lower bound" in _out_of_sample_notes({"family": None, "model": rec}, "m")[0]
    mixed = {**rec, "bias_by_family_pct": {"a": 20.0, "b": -100.0}}
    assert "bound" not in _out_of_sample_notes({"family": None, "model": mixed}, "m")[0]
    assert _out_of_sample_notes({"family": None, "model": {**rec, "rows": 2}}, "m") == []
    # parameters passed in by the caller are not what the file scored
    own = estimate_training("llama3-70b", "h100", 64, seq=8192, global_batch=256,
                            options=Options(params=C.efficiency_params("nvidia-hopper")))
    assert own.accuracy_out_of_sample is None
