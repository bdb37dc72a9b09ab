"""Shared by the out-of-sample check scripts (``check_*_training.py``): one published row, run and scored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rainier.errors import RainierError


def attempt(runner: Callable[[str], tuple[Any, float, float]], line: str, label: str
            ) -> tuple[Any, float, float, float] | None:
    """(estimate, predicted, measured, signed error %) of one table row; None, with the reason printed under
    ``label``, when rainier cannot reproduce it."""
    try:
        res, pred, meas = runner(line)
    except RainierError as exc:
        print(f"{label} not reproducible: {exc}"[:160])
        return None
    return res, pred, meas, 100.0 * (pred / meas - 1.0)
