"""Shared assertions on the CLI's error contract (imported by the CLI error tests)."""

from __future__ import annotations


def one_error(rc: int, out: str, err: str, *names: str) -> str:
    """The command failed as a user error must: exit 2, nothing on stdout, one line ``error: ...`` on stderr
    containing each of ``names`` (the flag or field, key words of the message), no traceback. Returns the line."""
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out, (out, err)
    assert out == "", out
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]
