"""Serving defects found by a QA audit of `rainier serve` (each test failed before its fix)."""

from __future__ import annotations

import pytest
from cli_checks import one_error

from rainier.errors import RainierError
from rainier.perf.inference import estimate_serving
from rainier.perf.workload import load_trace

HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def test_rows_with_more_fields_than_the_header_are_refused(tmp_path):
    # pandas took the first field as the index and read every column shifted (inputs 1000 -> 100, outputs -> 7)
    f = tmp_path / "t.csv"
    f.write_text(HEAD + "0,1000,100,7\n1,2000,200,7\n2,3000,300,7\n")
    with pytest.raises(RainierError, match="more fields than the header"):
        load_trace(f)


def test_a_trailing_comma_on_every_row_reads_as_meant(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(HEAD + "0,1000,100,\n1,2000,200,\n")
    r = load_trace(f)
    assert list(r.input_len) == [1000, 2000] and list(r.output_len) == [100, 200]


def test_a_bad_timestamp_names_its_own_row(tmp_path):
    f = tmp_path / "t.csv"
    f.write_text(HEAD + "0,100,10\n1.5,200,20\nabc,300,30\n")
    with pytest.raises(RainierError, match=r"row 4: timestamp 'abc'"):
        load_trace(f)


@pytest.mark.parametrize("times", ["1e308,100,10\n-1e308,100,10\n", "0,100,10\n1e20,100,10\n"])
def test_an_absurd_trace_span_is_refused(tmp_path, times):
    # 1e308 / -1e308 ended in "RuntimeError: requests never finished" (exit 1); 1e20 gave a TTFT of 0
    f = tmp_path / "t.csv"
    f.write_text(HEAD + times)
    with pytest.raises(RainierError, match="spans"):
        load_trace(f)


def test_a_vanishing_qps_is_a_one_line_error(run_cli):
    one_error(*run_cli("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "8", "--qps", "1e-320"),
              "--qps", "at least")


@pytest.mark.parametrize("mode", [{"concurrency": 2}, {"offline": True, "requests": 2}])
def test_the_search_does_not_count_replicas_that_get_no_request(mode):
    # with 2 requests in flight the search ranked 8 one-chip replicas by 8 x one replica's rate although 6 sit
    # idle: it picked tp1 x 8 (250 tok/s) over tp8 (539 tok/s)
    kw = dict(input_len=512, output_len=512, **mode)
    best = estimate_serving("llama3-8b", "h100", 8, **kw)
    forced = estimate_serving("llama3-8b", "h100", 8, tp=8, **kw)
    assert best.output_tokens_per_s >= 0.97 * forced.output_tokens_per_s
    assert best.config["replicas"] <= 2


def test_a_request_too_long_for_the_kv_names_the_length_not_tp(run_cli):
    # the user gave neither --tp nor --pp; the error named them (and --tp 2 then failed on 1 chip)
    line = one_error(*run_cli("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "1", "--input-len", "1M",
                              "--output-len", "10"), "--input-len/--output-len", "--kv-dtype fp8", "1,048,586")
    assert "--tp/--pp" not in line


def test_weights_that_do_not_fit_a_searched_layout_name_chips(run_cli):
    one_error(*run_cli("serve", "--model", "llama3.1-405b", "--chip", "h100", "--chips", "8", "--offline",
                       "--requests", "10"), "--chips", "widest replica")


def test_disaggregation_with_a_closed_loop_is_refused_first(run_cli):
    # the first error sent the user to --chips / --tp; only then did the traffic-mode conflict show
    one_error(*run_cli("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "4", "--input-len", "2048",
                       "--output-len", "256", "--prefill-replicas", "2", "--concurrency", "16"),
              "--concurrency", "open-loop")


def test_prefill_replicas_pick_a_layout_with_room_for_them():
    r = estimate_serving("llama3-8b", "h100", 4, input_len=2048, output_len=256, prefill_replicas=2, qps=5.0,
                         requests=200)
    assert r.config["replicas"] > 2 and r.config["prefill_replicas"] == 2


def test_a_short_slo_search_says_its_rate_is_overstated():
    r = estimate_serving("llama3-8b", "h100", 1, input_len=256, output_len=64, slo_ttft_s=1.0, slo_tpot_s=0.05,
                         requests=100)
    assert any("likely overstated" in n for n in r.notes)


def test_workers_is_checked_with_one_chip_kind(run_cli):
    one_error(*run_cli("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "1", "--workers", "0",
                       "--offline", "--requests", "10"), "--workers")


def test_the_search_tries_pipeline_depths_that_divide_the_layers():
    # only powers of two were tried: Llama 3.1 405B (126 layers) on 12 H100 was refused, though tp 4 x pp 3 serves
    r = estimate_serving("llama3.1-405b", "h100", 12, offline=True, requests=100)
    assert (r.config["tp"], r.config["pp"]) == (4, 3) and r.output_tokens_per_s > 0


def test_a_non_numeric_size_and_an_oversized_tp_get_fixes_that_work(run_cli):
    # "--tp abc" suggested token counts (1M, 15T); "--tp 128" on NVL72 suggested --tp 72, which 128 heads refuse
    line = one_error(*run_cli("serve", "--model", "llama3-8b", "--chip", "h100", "--chips", "8", "--tp", "abc"),
                     "--tp", "whole number")
    assert "15T" not in line
    line = one_error(*run_cli("serve", "--model", "llama3.1-405b", "--chip", "gb200", "--chips", "144", "--tp", "128"),
                     "--tp", "--tp 64 or less")


@pytest.mark.parametrize("kw", [{"input_len": -1}, {"output_len": 0}, {"input_len": float("nan")},
                                {"slo_ttft_s": -2}, {"slo_tpot_s": 0}, {"slo_ttft_s": "2s"}])
def test_replica_capacity_refuses_impossible_inputs(kw):
    # input_len -1 gave more output than total tokens; output_len 0 a ZeroDivisionError; "2s" a ValueError
    from rainier.perf.inference import replica_capacity

    with pytest.raises(RainierError, match=next(iter(kw))):
        replica_capacity("llama3-8b", "h100", **kw)

