"""Atomic writes: whole or nothing, readable per the umask."""

import os
import stat
from pathlib import Path

import pytest

from rainier.io import atomic_dir, atomic_write_json, atomic_write_text


def test_atomic_file_replaces_and_has_umask_mode(tmp_path):
    p = tmp_path / "a.txt"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask
    assert [f.name for f in tmp_path.iterdir()] == ["a.txt"]  # no temp files left


def test_atomic_dir_is_all_or_nothing(tmp_path):
    out = tmp_path / "run"
    with atomic_dir(out) as d:
        atomic_write_json(d / "summary.json", {"x": 1})
        atomic_write_json(d / "manifest.json", {})
    assert (out / "summary.json").exists()
    with pytest.raises(RuntimeError), atomic_dir(out) as d:
        (d / "partial.txt").write_text("half")
        raise RuntimeError("crash mid-run")
    assert sorted(f.name for f in out.iterdir()) == ["manifest.json", "summary.json"]  # old run intact
    assert [f.name for f in tmp_path.iterdir()] == ["run"]


def test_atomic_dir_never_replaces_what_is_not_a_run(tmp_path):
    from rainier.errors import RainierError

    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "thesis.txt").write_text("years of work")
    with pytest.raises(RainierError, match="--out"), atomic_dir(precious):
        pass
    assert (precious / "thesis.txt").read_text() == "years of work"
    afile = tmp_path / "notes.txt"
    afile.write_text("keep")
    with pytest.raises(RainierError, match="not a directory"), atomic_dir(afile):
        pass
    assert afile.read_text() == "keep"
    empty = tmp_path / "empty"
    empty.mkdir()
    with atomic_dir(empty) as d:
        (d / "manifest.json").write_text("{}")
    with atomic_dir(empty) as d:  # an earlier run is replaced
        (d / "manifest.json").write_text('{"n": 2}')
    assert (empty / "manifest.json").read_text() == '{"n": 2}'


def test_unwritable_paths_are_one_line_errors(tmp_path):
    """A path the OS refuses (under /proc, or below a regular file) is a RainierError naming the path or the
    flag, never an OSError traceback; nothing is left behind."""
    from rainier.errors import RainierError
    from rainier.io import atomic_dir, atomic_write_text

    blocker = tmp_path / "file"
    blocker.write_text("x")
    for bad in (blocker / "r.html", Path("/proc/rainier-test.html")):
        with pytest.raises(RainierError, match="cannot write"):
            atomic_write_text(bad, "data")
    with pytest.raises(RainierError, match="cannot write") as e:
        with atomic_dir(blocker / "run"):
            pass
    assert e.value.field == "--out"
    with pytest.raises(RainierError, match="empty"):
        atomic_write_text("", "data", field="-o")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_cli_report_to_an_unwritable_path_exits_2(run_cli):
    rc, out, err = run_cli("size", "--power", "1GW", "--chip", "h100", "--report", "/proc/rainier-test.html")
    assert rc == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1 and "/proc" in err
