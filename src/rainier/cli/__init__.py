"""The `rainier` command line: a thin layer over the Python API.

Every command takes ``--json``; user errors print one line ``error: ...`` on stderr and exit 2.
Sub-commands live one module per family (catalog, size, train, serve, fleet, report, demo).
"""

from __future__ import annotations

import sys

import typer

try:  # typer < 0.20 uses click; newer typer vendors it
    from click.exceptions import Abort, ClickException, Exit, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover - depends on the installed typer
    from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError  # type: ignore
    from typer.exceptions import Abort, Exit  # type: ignore

from rainier.errors import RainierError

app = typer.Typer(
    name="rainier",
    help="A digital twin of gigawatt-scale AI accelerator fleets.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
catalog_app = typer.Typer(help="List, show and check catalog entries.", no_args_is_help=True)
validate_app = typer.Typer(help="Compare the models with published measurements.", no_args_is_help=True)
fleet_app = typer.Typer(help="Run fleet scenarios.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")
app.add_typer(validate_app, name="validate")
app.add_typer(fleet_app, name="fleet")

# Importing the command modules registers their commands on the apps above.
from rainier.cli import catalog as _catalog  # noqa: E402,F401
from rainier.cli import demo as _demo  # noqa: E402,F401
from rainier.cli import fleet as _fleet  # noqa: E402,F401
from rainier.cli import plan as _plan  # noqa: E402,F401
from rainier.cli import report as _report  # noqa: E402,F401
from rainier.cli import serve as _serve  # noqa: E402,F401
from rainier.cli import size as _size  # noqa: E402,F401
from rainier.cli import train as _train  # noqa: E402,F401


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the app, turning every user error into one line and exit code 2."""
    try:
        rc = app(args=argv, standalone_mode=False, prog_name="rainier")
        return rc if isinstance(rc, int) else 0
    except RainierError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except NoArgsIsHelpError as exc:
        if exc.ctx is not None:
            print(exc.ctx.get_help())
        return 0
    except UsageError as exc:
        ctx = getattr(exc, "ctx", None)
        where = f"{ctx.command_path}: " if ctx is not None else ""
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        print(f"error: {where}{exc.format_message()}{hint}".replace("\n", " "), file=sys.stderr)
        return 2
    except ClickException as exc:
        print(f"error: {exc.format_message()}".replace("\n", " "), file=sys.stderr)
        return 2
    except Abort:
        print("error: aborted", file=sys.stderr)
        return 130
    except Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _console_main() -> None:
    sys.exit(main())
