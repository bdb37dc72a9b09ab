"""The catalog: accelerators, systems, networks, sites, models and economics as validated YAML data.

``default_catalog()`` merges the built-in files with ``RAINIER_CATALOG`` and ``--catalog`` folders.
"""

from rainier.catalog.loader import DATA_DIR, Catalog, Problem, check_dir, default_catalog, load_entry_file
from rainier.catalog.params import ParamCounts, param_counts
from rainier.catalog.schema import (
    KINDS,
    MLA,
    Accelerator,
    Economics,
    Entry,
    Model,
    MoE,
    Network,
    ScaleOut,
    ScaleUpTier,
    Site,
    System,
)

__all__ = [
    "Catalog", "Problem", "check_dir", "default_catalog", "load_entry_file", "DATA_DIR",
    "ParamCounts", "param_counts", "KINDS", "Accelerator", "Economics", "Entry", "Model", "MoE", "MLA",
    "Network", "ScaleOut", "ScaleUpTier", "Site", "System",
]
