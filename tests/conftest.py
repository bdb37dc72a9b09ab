"""Shared fixtures. Tests run without the user's RAINIER_CATALOG so they see the shipped catalog."""

from __future__ import annotations

import os

import pytest

os.environ.pop("RAINIER_CATALOG", None)


@pytest.fixture()
def cat():
    from rainier.catalog import default_catalog

    return default_catalog()


@pytest.fixture()
def run_cli(capsys):
    """Run the CLI in-process; return (exit_code, stdout, stderr)."""
    from rainier.cli import main

    def _run(*args: str) -> tuple[int, str, str]:
        rc = main(list(args))
        out = capsys.readouterr()
        return rc, out.out, out.err

    return _run
