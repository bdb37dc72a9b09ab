"""`rainier demo`: the main job on the built-in default."""

from __future__ import annotations

from typing import Annotated

import typer

from rainier.cli import app
from rainier.cli.common import CatalogOpt, JsonOpt, console, emit_json, load_catalog
from rainier.cli.size import sizing_table
from rainier.plan.sizing import size_fleet

DEMO_CHIPS = ["trn2", "h100", "gb200", "tpu-v6e"]


@app.command("demo")
def demo_cmd(
    catalog: CatalogOpt = None,
    json: JsonOpt = False,
    quick: Annotated[bool, typer.Option("--quick", help="sizing only")] = False,
) -> None:
    """Size the built-in 5 GW fleet and compare chips (later: run the default fleet scenario)."""
    cat = load_catalog(catalog)
    results = size_fleet(cat, DEMO_CHIPS, power_w=5e9)
    if json:
        emit_json({"sizing": results})
        return
    console.print(sizing_table(results, "What 5 GW of facility power buys"))
