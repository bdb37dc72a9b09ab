"""Self-contained HTML reports of rainier results, built from result files and result dataclasses.

- ``write_run_report(run_dir, out=None)``: a fleet run, from its run directory's files only.
- ``write_compare_report(run_a, run_b, out=None)``: two runs side by side, differences highlighted.
- ``write_sizing_report(results, path)``, ``write_training_report(result, path)``,
  ``write_serving_report(result, path)``, ``write_plan_report(result, path, notes)``: one-page reports of
  ``rainier size``/``train``/``serve``/``plan``.

Every report is one HTML file with plotly.js inlined; it opens offline from a ``file://`` URL.
"""

from __future__ import annotations

from rainier.report.compare import write_compare_report
from rainier.report.one_page import (
                                     write_plan_report,
                                     write_serving_report,
                                     write_sizing_report,
                                     write_training_report,
)
from rainier.report.run_report import load_run, write_run_report

__all__ = ["write_run_report", "write_compare_report", "write_sizing_report", "write_training_report",
           "write_serving_report", "write_plan_report", "load_run"]
