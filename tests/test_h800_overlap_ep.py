"""The H800 as a catalog chip (an H100 with NVLink cut to 400 GB/s) and the --overlap-ep flag (DualPipe-style
hiding of the EP all-to-all), both used by the DeepSeek-V3 validation row."""

from __future__ import annotations

import json

from rainier.catalog.loader import default_catalog
from rainier.perf.training import Options, estimate_training
from rainier.perf.validate_training import validate_training

DSV3 = dict(seq=4096, global_batch=1024, precision="fp8",
            parallelism={"tp": 1, "pp": 8, "ep": 32, "zero": 1, "recompute": "selective"})


def test_h800_is_an_h100_with_a_narrower_nvlink():
    cat = default_catalog()
    h800, h100 = cat.accelerator("h800"), cat.accelerator("h100")
    assert h800.peak_tflops == h100.peak_tflops and h800.hbm_bytes == h100.hbm_bytes
    assert h800.scaleup_gbytes_s == 400 < h100.scaleup_gbytes_s
    sysm = cat.system_for(h800)
    assert sysm.name == "dgx-h800" and sysm.accelerator == "h800"
    assert all(t.gbytes_s_per_chip == 400 for t in sysm.scaleup)


def test_the_narrower_nvlink_never_speeds_a_step_and_slows_a_tp_heavy_one():
    args = dict(seq=8192, global_batch=64, parallelism={"tp": 8, "pp": 1, "dp": 8, "micro_batch": 1})
    h800 = estimate_training("llama3-70b", "h800", 64, **args)
    h100 = estimate_training("llama3-70b", "h100", 64, **args)
    assert h800.breakdown["tp_comm"] > h100.breakdown["tp_comm"]
    assert h800.step_time_s > h100.step_time_s


def test_overlapping_the_all_to_all_hides_it_and_never_slows_the_step():
    exposed = estimate_training("deepseek-v3", "h800", 512, **DSV3)
    hidden = estimate_training("deepseek-v3", "h800", 512, **DSV3, options=Options(overlap_ep=True))
    assert exposed.breakdown["ep_comm"] > 0
    assert hidden.breakdown["ep_comm"] < exposed.breakdown["ep_comm"]
    assert hidden.step_time_s <= exposed.step_time_s


def test_overlap_ep_flag_reaches_the_estimate(run_cli):
    base = ("train", "--model", "deepseek-v3", "--chip", "h800", "--chips", "512", "--seq", "4096",
            "--global-batch", "1024", "--precision", "fp8", "--tp", "1", "--pp", "8", "--ep", "32", "--json")
    rc, out, err = run_cli(*base)
    assert rc == 0, err
    rc2, out2, err2 = run_cli(*base, "--overlap-ep")
    assert rc2 == 0, err2
    assert json.loads(out2)["breakdown"]["ep_comm"] < json.loads(out)["breakdown"]["ep_comm"]


def test_the_catalog_h800_is_the_variant_validation_used_to_build():
    # before the catalog entry, validation row 25 built the H800 in code: an H100 (and DGX H100) with every
    # NVLink figure at 400 GB/s. The catalog chip must price a job exactly as that variant did.
    cat = default_catalog()
    h100, dgx = cat.accelerator("h100"), cat.system("dgx-h100")
    acc = h100.model_copy(update={"name": "h800", "scaleup_gbytes_s": 400.0})
    tiers = tuple(t.model_copy(update={"gbytes_s_per_chip": 400.0}) for t in dgx.scaleup)
    sysm = dgx.model_copy(update={"name": "dgx-h800", "accelerator": "h800", "scaleup": tiers})
    built = estimate_training("deepseek-v3", acc, 512, system=sysm, **DSV3, options=Options(overlap_ep=True))
    catalog = estimate_training("deepseek-v3", "h800", 512, **DSV3, options=Options(overlap_ep=True))
    assert catalog.step_time_s == built.step_time_s and catalog.breakdown == built.breakdown
    row = next(r for r in validate_training().rows if r.id == 25)
    assert row.usable and not any(s.startswith("hardware") for s in row.settings)
