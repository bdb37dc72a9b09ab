"""Atomic writes: results appear whole or not at all.

Files are written to a temporary sibling and renamed into place (``os.replace`` is atomic on POSIX);
a run directory is built in a temporary sibling directory and renamed when complete.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

__all__ = ["atomic_write_text", "atomic_write_bytes", "atomic_write_json", "atomic_dir", "to_jsonable",
           "report_path", "Staged"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _full_reason(exc: OSError) -> str | None:
    """Why a write failed for want of room or of a writable disk (its strerror), else None; also as pyarrow
    words it, with the errno only in the text."""
    if exc.errno in _FULL:
        return os.strerror(exc.errno)
    return next((os.strerror(e) for e in _FULL if os.strerror(e) in str(exc)), None)


def _out_of_space(exc: OSError) -> bool:
    return _full_reason(exc) is not None


def _missing_folders(path: Path) -> list[Path]:
    """The folders above ``path`` that do not exist yet, deepest first (writing ``path`` creates them)."""
    out, anc = [], path.parent
    while not anc.exists() and anc != anc.parent:
        out.append(anc)
        anc = anc.parent
    return out


def _nearest_existing(path: Path) -> Path:
    """The closest folder (or file) above ``path`` that exists: where writing ``path`` starts."""
    made = _missing_folders(path)
    return made[-1].parent if made else path.parent


def _unwritable(path: Path, exc: OSError, field: str | None) -> Exception:
    """An OS refusal to write ``path`` as the one-line error the CLI prints (exit 2)."""
    from rainier.errors import RainierError

    why = exc.strerror or _full_reason(exc) or type(exc).__name__
    anc = _nearest_existing(path)
    if anc.exists() and not anc.is_dir():
        why = f"{anc} is a file, not a folder"
    fix = ("free some space there or give a folder on another disk" if _out_of_space(exc)
           else "give a path in a folder you can write to")
    return RainierError(f"cannot write {path} ({why})", field=field or str(path), fix=fix)


def check_output_path(path: str | Path, field: str) -> Path:
    """Refuse, naming ``field``, an output path that cannot be written before any work is done: one under a file
    (``afile/r.html``) or in a folder this user cannot write. The write itself still reports anything else."""
    from rainier.errors import RainierError

    p = Path(path)
    anc = _nearest_existing(p)
    if anc.exists() and not anc.is_dir():
        raise RainierError(f"cannot write {p} ({anc} is a file, not a folder)", field=field,
                           fix="give a path in a folder you can write to")
    if anc.is_dir() and not os.access(anc, os.W_OK | os.X_OK):
        raise RainierError(f"cannot write {p} ({anc} is not writable)", field=field,
                           fix="give a path in a folder you can write to")
    return p


def atomic_write_bytes(path: str | Path, data: bytes, field: str | None = None) -> Path:
    """Write ``data`` to ``path`` whole or not at all; an unwritable path is a RainierError naming ``field``
    (default: the path itself). A symlink is written through (its target is replaced); a path that is a
    folder, a device, a pipe or a socket is refused (renaming a file over it would destroy it)."""
    path = Path(path)
    if not path.name:
        from rainier.errors import RainierError

        raise RainierError("the output path is empty", field=field or "output path", fix="give a file name")
    if path.is_symlink():
        # write through the link (the file it points at is the output), not over the link itself
        path = Path(os.path.realpath(path))
    if path.exists() and not path.is_file():
        from rainier.errors import RainierError

        kind = "a folder" if path.is_dir() else "not a regular file (a device, a pipe or a socket)"
        raise RainierError(f"cannot write {path}: it is {kind}", field=field or str(path),
                           fix="give the path of a file (an existing one is replaced whole)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _unwritable(path, exc, field) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; results are for others to read too
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise _unwritable(path, exc, field) from None
        raise
    return path


class Staged:
    """A file written whole to a hidden sibling, put in place by :meth:`commit` or dropped by :meth:`discard`:
    a command writing several outputs stages the first ones, writes the last, then commits, so that a failure
    of a later write leaves none of them behind."""

    def __init__(self, path: str | Path, data: bytes, field: str | None = None):
        path = Path(path)
        if path.is_symlink():
            path = Path(os.path.realpath(path))
        self.path, self.field = path, field
        if not path.name or (path.exists() and not path.is_file()):
            atomic_write_bytes(path, data, field)  # raises the usual one-line error, writes nothing
        # the folders it creates, deepest first: a discard removes them again (a failed command leaves no empty folder)
        self.made = _missing_folders(path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(self.tmp, 0o666 & ~_umask())
        except OSError as exc:
            raise _unwritable(path, exc, field) from None

    def commit(self) -> Path:
        try:
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.discard()
            raise _unwritable(self.path, exc, self.field) from None
        return self.path

    def discard(self) -> None:
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)
        for d in self.made:
            try:
                d.rmdir()  # only while empty: something else written there since stays
            except OSError:
                break


def report_path(path: str | Path, default_name: str = "report.html") -> Path:
    """Where a report goes: a folder (an existing one, or a path written with a trailing slash, which is
    created) gets ``default_name`` inside it; a file path is used as given."""
    p = Path(path)
    folder = p.is_dir() or (isinstance(path, str) and path.endswith(("/", os.sep)))
    return p / default_name if folder else p


def atomic_write_text(path: str | Path, text: str, field: str | None = None) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"), field)


def to_jsonable(obj: Any) -> Any:
    """Dataclasses, pydantic models, numpy scalars and paths to plain JSON types."""
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        if hasattr(obj, "to_dict"):
            return to_jsonable(obj.to_dict())
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if hasattr(obj, "model_dump"):
        return to_jsonable(obj.model_dump(mode="json"))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalar
        return to_jsonable(obj.item())
    if isinstance(obj, float) and not math.isfinite(obj):  # NaN and infinity are not JSON: null
        return None
    return obj


def atomic_write_json(path: str | Path, obj: Any, field: str | None = None) -> Path:
    return atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n", field)


RUN_MARKER = "manifest.json"


def check_out_dir(path: str | Path, marker: str = RUN_MARKER) -> Path:
    """Refuse an ``--out`` folder :func:`atomic_dir` would not replace (a file; a non-empty folder holding no
    earlier result), before any work is done."""
    from rainier.errors import RainierError

    path = Path(path)
    if path.exists() or path.is_symlink():
        if not path.is_dir() or path.is_symlink():
            raise RainierError(f"{path} exists and is not a directory", field="--out",
                               fix="give a new folder (it will be created)")
        if any(path.iterdir()) and not (path / marker).exists():
            raise RainierError(f"{path} is a non-empty folder that holds no earlier run ({marker})",
                               field="--out", fix="give a new or empty folder, or an earlier run directory")
    return path


@contextmanager
def atomic_dir(path: str | Path, marker: str = RUN_MARKER) -> Iterator[Path]:
    """Yield a temporary directory; on success it replaces ``path`` whole, on error it is removed.

    Only a missing path, an empty directory, or an earlier result directory (one holding ``marker``)
    is replaced: anything else at ``path`` is the user's and is never deleted.
    """
    path = check_out_dir(path, marker)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise _unwritable(path, exc, "--out") from None
    os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes 0700
    try:
        yield tmp
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(exc, OSError) and _out_of_space(exc):
            raise _unwritable(path, exc, "--out") from None
        raise
    old = None
    try:
        if path.exists():
            old = path.with_name(f".{path.name}.old.{os.getpid()}")
            os.replace(path, old)
        os.replace(tmp, path)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None and not path.exists():
            os.replace(old, path)  # put the earlier run back
        raise _unwritable(path, exc, "--out") from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, with an impossible date (2026-02-30, 2026-13-01) a YAML error at its line instead of
    the ``ValueError`` the timestamp constructor raises."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:  # type: ignore[override]
        try:
            return super().construct_yaml_timestamp(node)
        except (ValueError, OverflowError):
            raise yaml.constructor.ConstructorError(
                None, None, f"'{node.value}' is not a calendar date (write one like 2026-03-01)",
                node.start_mark) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


def load_yaml(stream: Any) -> Any:
    """``yaml.safe_load`` whose every failure is a ``yaml.YAMLError`` (an impossible date included)."""
    return yaml.load(stream, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
