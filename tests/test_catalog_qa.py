"""User catalog folders: defects a QA audit found in `extends:` and overrides (each test failed before its fix)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_checks import one_error

from rainier.catalog.loader import Catalog


def _cat(tmp_path: Path, *files: str) -> Catalog:
    for i, text in enumerate(files):
        (tmp_path / f"{chr(97 + i)}.yaml").write_text(text)
    return Catalog.load([tmp_path], use_env=False)


@pytest.mark.parametrize("entry", ["  - name: c1\n    extends: [h100]\n", "  - name: [a, b]\n    extends: h100\n"])
def test_a_list_as_name_or_extends_is_a_one_line_error(run_cli, tmp_path, entry):
    # TypeError: unhashable type, a traceback on every command that loads the catalog
    (tmp_path / "a.yaml").write_text("accelerators:\n" + entry)
    one_error(*run_cli("catalog", "list", "--catalog", str(tmp_path)), "not a name")


def test_an_override_in_another_case_replaces_the_entry_and_keeps_its_aliases(tmp_path):
    # "H100" added a second chip beside "h100"; "hopper" still reached the old spec
    cat = _cat(tmp_path, "accelerators:\n  - name: H100\n    extends: h100\n    tdp_w: 500\n")
    assert [n for n in cat.names("accelerator") if n.lower() == "h100"] == ["h100"]
    assert cat.accelerator("hopper").tdp_w == 500 == cat.accelerator("H100").tdp_w
    assert cat.system("dgx-h100").accelerator == "h100"  # systems still find their chip


def test_re_specifying_a_builtin_keeps_its_aliases(tmp_path):
    cat = _cat(tmp_path, "accelerators:\n  - name: h100\n    extends: h100\n    tdp_w: 500\n")
    assert cat.accelerator("hopper").tdp_w == 500


def test_extends_merges_nested_mappings_and_the_overridden_figures_are_the_entrys_own(tmp_path):
    # peak_tflops: {bf16: 1100} dropped fp8 (fp8 peak 0); a user's capex stayed "estimate", sourced to facts.md
    cat = _cat(tmp_path, "accelerators:\n  - name: h100-oc\n    extends: h100\n    peak_tflops: {bf16: 1100}\n"
                         "    capex_usd: 30000\n    source: our order\n")
    a, base = cat.accelerator("h100-oc"), cat.accelerator("h100")
    assert a.peak_tflops["bf16"] == 1100 and a.peak_tflops["fp8"] == base.peak_tflops["fp8"]
    assert not a.is_estimate("capex_usd") and "capex_usd" not in a.field_sources


def test_extends_in_a_folder_finds_names_as_lookups_do(tmp_path):
    # case, aliases and an entry of a later file of the same folder were "unknown"
    cat = _cat(tmp_path, "accelerators:\n  - name: z-child\n    extends: a-parent\n"
                         "  - name: y\n    extends: HOPPER\n",
               "accelerators:\n  - name: a-parent\n    extends: h100\n    tdp_w: 600\n")
    assert cat.accelerator("z-child").tdp_w == 600 and cat.accelerator("y").tdp_w == cat.accelerator("h100").tdp_w


def test_names_equal_but_for_case_are_one_name(run_cli, tmp_path):
    (tmp_path / "a.yaml").write_text("accelerators:\n  - name: mychip\n    extends: h100\n")
    (tmp_path / "b.yaml").write_text("accelerators:\n  - name: MyChip\n    extends: h100\n")
    one_error(*run_cli("catalog", "list", "--catalog", str(tmp_path)), "--catalog", "more than once")
