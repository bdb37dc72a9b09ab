"""Catalog-file defects a QA audit of `rainier train` found (each test failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from cli_checks import one_error

from rainier.catalog import default_catalog

TRAIN = ["train", "--model", "llama3-8b", "--chips", "8", "--seq", "4096", "--global-batch", "64"]


def _copy(kind: str, entry: str, **change) -> dict:
    data = default_catalog().get(kind, entry).model_dump(exclude_none=True)
    data.update(change)
    return {kind: [data]}


def test_a_chip_whose_fp8_peak_is_below_its_bf16_is_refused(run_cli, tmp_path: Path):
    # the step was timed at the bf16 rate (never slower) but MFU divided by the fp8 figure: MFU 564%
    doc = _copy("accelerators", "h100", name="h100-copy", aliases=[])
    doc["accelerators"][0]["peak_tflops"] = {**doc["accelerators"][0]["peak_tflops"], "fp8": 100.0}
    f = tmp_path / "chip.yaml"
    f.write_text(yaml.safe_dump(doc))
    one_error(*run_cli(*TRAIN, "--chip", str(f), "--precision", "fp8"), "peak_tflops.fp8", "below")


@pytest.mark.parametrize("via", ["--system", "--catalog"])
def test_a_system_naming_an_unknown_network_is_refused(run_cli, tmp_path: Path, via):
    # it ran on a fallback 10 us link; only `rainier catalog check` said so
    doc = _copy("systems", "dgx-h100", name="mysys", aliases=[])
    doc["systems"][0]["scaleout"]["network"] = "nosuch"
    f = tmp_path / "sys.yaml"
    f.write_text(yaml.safe_dump(doc))
    args = ["--system", str(f)] if via == "--system" else ["--catalog", str(tmp_path), "--system", "mysys"]
    one_error(*run_cli(*TRAIN, "--chip", "h100", *args), "scaleout.network", "nosuch")
