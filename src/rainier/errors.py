"""Errors that reach the user as one line.

Every problem with user input (an unknown catalog name, a malformed YAML file, a negative power, a
parallelism that does not divide the chips, a model that does not fit) raises :class:`RainierError`.
The CLI prints ``error: <message>`` and exits with code 2; no traceback is shown. The message names
the offending field and, where one exists, the fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["RainierError", "UnknownNameError", "closest", "yaml_problem"]


class RainierError(Exception):
    """A user-facing error: one line naming the field and the fix."""

    exit_code = 2

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None):
        self.field = field
        self.fix = fix
        self.message = message  # without the field and the fix: for re-raising under another field
        text = message
        if field and field not in message:
            text = f"{field}: {text}"
        if fix:
            text = f"{text}; {fix}"
        super().__init__(text.replace("\n", " "))


def closest(name: str, candidates: Iterable[str], n: int = 5) -> list[str]:
    """The catalog names nearest to ``name`` (case-insensitive), best first."""
    if not name.strip():
        return []
    cands = sorted(set(candidates))
    lower = {c.lower(): c for c in cands}
    # 0.6: a near spelling ("h10", "lama3-8b"), not a shared syllable ("nosuch" ~ "trn2-chip" scores 0.4)
    hits = difflib.get_close_matches(name.lower(), list(lower), n=n, cutoff=0.6)
    # Substring matches help with short names ("h100" -> "h100-sxm").
    subs = [c for c in cands if name.lower() in c.lower() and c.lower() not in hits]
    out = [lower[h] for h in hits] + subs
    return out[:n]


_CATALOG_KINDS = ("accelerator", "system", "network", "site", "model")


class DoesNotFitError(RainierError):
    """The job does not fit in memory: valid layouts exist, and none fits (fewer chips will not help)."""


class UnknownNameError(RainierError):
    def __init__(self, kind: str, name: str, candidates: Iterable[str], field: str | None = None):
        near = closest(name, candidates)
        listing = f"rainier catalog list {kind}s" if kind in _CATALOG_KINDS else "rainier catalog list"
        hint = f"did you mean: {', '.join(near)}?" if near else f"see `{listing}`"
        super().__init__(f"unknown {kind} '{name}'", field=field or kind, fix=hint)


def yaml_problem(exc: Exception) -> tuple[int | None, str]:
    """(1-based line, the problem's first line) of a YAML parse error, for the one-line message naming a file."""
    mark = getattr(exc, "problem_mark", None)
    return (mark.line + 1 if mark is not None else None), str(getattr(exc, "problem", None) or exc).splitlines()[0]
