"""Load, merge and look up catalog entries.

Sources, later ones overriding earlier ones by name:
  1. the built-in files in ``rainier/catalog/data`` (shipped with the package),
  2. directories in the ``RAINIER_CATALOG`` environment variable (os.pathsep-separated),
  3. directories given with ``--catalog DIR`` (or ``Catalog.load(extra_dirs=...)``).
Overriding a built-in entry by name is how a user replaces a spec. Within one user directory (all its
files together) a name may appear only once per kind: a second one is an error, not a silent override.

A YAML file holds either kind-keyed lists::

    accelerators:
      - name: my-chip
        ...
    models:
      - name: my-model
        ...

or one entry with a ``kind:`` key (``kind: model``). An entry may say ``extends: NAME`` to start
from an existing entry of the same kind and override some fields. Every lookup that takes a name
also takes a path to a YAML file holding one entry.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError

from rainier.catalog.schema import (
    KINDS,
    Accelerator,
    Economics,
    Entry,
    Model,
    Network,
    Site,
    System,
)
from rainier.errors import RainierError, UnknownNameError, yaml_problem
from rainier.io import load_yaml

__all__ = ["Catalog", "Problem", "check_dir", "default_catalog", "DATA_DIR", "load_entry_file"]

DATA_DIR = Path(__file__).parent / "data"
SINGULAR = {
    "accelerator": "accelerators",
    "system": "systems",
    "network": "networks",
    "site": "sites",
    "model": "models",
    "economics": "economics",
}
E = TypeVar("E", bound=Entry)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in a user's catalog file."""

    file: str
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        msg = self.message
        if msg.startswith(f"{self.file}:"):  # a YAML error already names the file (and the line)
            msg = msg[len(self.file) + 1:].lstrip()
        return ": ".join([self.file, *(x for x in (self.entry, self.field) if x != "-"), msg])


@dataclass
class _Raw:
    kind: str
    data: dict[str, Any]
    file: str


# one entry of a kind, for messages ("economics" stays "economics")
_SINGULAR = {"accelerators": "accelerator", "systems": "system", "networks": "network", "sites": "site",
             "models": "model", "economics": "economics"}


def _read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return load_yaml(fh)
    except yaml.YAMLError as exc:
        line, msg = yaml_problem(exc)
        where = f" line {line}" if line is not None else ""
        raise RainierError(f"{path}:{where}: malformed YAML ({msg})", fix="fix the YAML syntax") from None
    except UnicodeDecodeError as exc:
        raise RainierError(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason})",
                           fix="save the file as UTF-8 YAML") from None
    except OSError as exc:
        raise RainierError(f"cannot read {path}: {exc.strerror}", fix="check the path") from None


def _raw_entries(path: Path) -> Iterator[_Raw]:
    doc = _read_yaml(path)
    if doc is None:
        return
    if not isinstance(doc, dict):
        raise RainierError(f"{path}: expected a mapping of kinds (accelerators:, models:, ...) or one entry with kind:")
    if "kind" in doc:
        kind = SINGULAR.get(str(doc["kind"]), str(doc["kind"]))
        if kind not in KINDS:
            raise RainierError(
                f"{path}: kind: unknown kind '{doc['kind']}'", fix=f"use one of {', '.join(SINGULAR)}"
            )
        data = {k: v for k, v in doc.items() if k != "kind"}
        yield _Raw(kind, data, str(path))
        return
    for key, items in doc.items():
        kind = SINGULAR.get(str(key), str(key))
        if kind not in KINDS:
            raise RainierError(f"{path}: {key}: unknown kind", fix=f"use one of {', '.join(KINDS)}")
        if isinstance(items, dict):
            items = [items]
        if not isinstance(items, list):
            raise RainierError(f"{path}: {key}: expected a list of entries")
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise RainierError(f"{path}: {key}[{i}]: expected a mapping with name: and fields")
            yield _Raw(kind, item, str(path))


def _yaml_files(d: Path) -> list[Path]:
    """The YAML files a catalog source holds: the file itself, or every .yaml/.yml under the folder."""
    return [d] if d.is_file() else sorted(p for p in d.rglob("*") if p.suffix in (".yaml", ".yml"))


def _duplicates(raws: Iterable[_Raw]) -> list[tuple[str, str, list[str]]]:
    """(kind, name, files) for every name given more than once per kind in ``raws`` (one source); names are
    compared as they are looked up, regardless of case ("MyChip" and "mychip" are one name)."""
    files: dict[tuple[str, str], list[str]] = {}
    for r in raws:
        name = r.data.get("name")
        if name:
            files.setdefault((r.kind, str(name).lower()), []).append(r.file)
    return [(k, n, fs) for (k, n), fs in files.items() if len(fs) > 1]


def _and(files: list[str]) -> str:
    """'a.yaml (2 times)' or 'a.yaml and b.yaml': where a duplicated name is defined."""
    uniq = list(dict.fromkeys(files))
    if len(uniq) == 1:
        return f"{uniq[0]} ({len(files)} times)"
    return ", ".join(uniq[:-1]) + f" and {uniq[-1]}"


def _field_of(loc: tuple[Any, ...]) -> str:
    return ".".join(str(x) for x in loc) or "(entry)"


def _validate(kind: str, data: dict[str, Any], file: str) -> Entry:
    cls = KINDS[kind]
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        name = data.get("name", "?")
        parts = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field (check the spelling; `rainier catalog show` lists the fields)"
            parts.append(f"{_field_of(err['loc'])}: {msg}")
        raise RainierError(f"{file}: {kind[:-1]} '{name}': " + "; ".join(parts)) from None


def _problems(kind: str, data: dict[str, Any], file: str) -> list[Problem]:
    try:
        KINDS[kind].model_validate(data)
        return []
    except ValidationError as exc:
        out = []
        for err in exc.errors():
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown field"
            out.append(Problem(file, str(data.get("name", "?")), _field_of(err["loc"]), msg))
        return out


class Catalog:
    """All entries by kind and name, after merging the built-in data with the user's files."""

    def __init__(self, entries: dict[str, dict[str, Entry]], files: dict[tuple[str, str], str]):
        self._entries = entries
        self._files = files
        self._alias: dict[str, dict[str, str]] = {}
        # (kind, name, file) of each user entry that replaces a built-in entry of the same name
        self.overrides: list[tuple[str, str, str]] = []
        for kind, by_name in entries.items():
            idx: dict[str, str] = {}
            for name, e in by_name.items():
                idx[name.lower()] = name
                for a in e.aliases:
                    idx.setdefault(a.lower(), name)
            self._alias[kind] = idx

    # --- construction ---------------------------------------------------------------------------
    @classmethod
    def load(cls, extra_dirs: Iterable[str | Path] = (), *, use_env: bool = True, check_refs: bool = True) -> Catalog:
        # (folder, where it came from): the error for a missing folder names the source the user set
        dirs: list[tuple[Path, str]] = []
        if use_env and os.environ.get("RAINIER_CATALOG"):
            dirs += [(Path(p), "RAINIER_CATALOG") for p in os.environ["RAINIER_CATALOG"].split(os.pathsep) if p]
        dirs += [(Path(d), "--catalog") for d in extra_dirs]
        raws: list[_Raw] = [r for f in _yaml_files(DATA_DIR) for r in _raw_entries(f)]
        n_builtin = len(raws)
        for d, source in dirs:
            if not d.exists():
                fix = (f"set it to existing folders (separated by '{os.pathsep}') or unset it"
                       if source == "RAINIER_CATALOG" else "give an existing directory")
                raise RainierError(f"catalog directory {d} does not exist", field=source, fix=fix)
            # Within one user folder a name may appear once per kind; a later folder (and any user folder
            # over the built-in data) overrides by name, which is how users replace a built-in spec.
            layer = [r for f in _yaml_files(d) for r in _raw_entries(f)]
            dup = _duplicates(layer)
            if dup:
                dkind, dname, dfiles = dup[0]
                more = f" (and {len(dup) - 1} more duplicated names)" if len(dup) > 1 else ""
                raise RainierError(f"{dkind[:-1]} '{dname}' is defined more than once in {_and(dfiles)}{more}",
                                   field=source, fix="keep one entry per name (rename or delete the others)")
            raws.extend(layer)
        entries: dict[str, dict[str, Entry]] = {k: {} for k in KINDS}
        files_of: dict[tuple[str, str], str] = {}
        merged: dict[str, dict[str, dict[str, Any]]] = {k: {} for k in KINDS}
        # names and aliases are looked up case-insensitively, as everywhere else: lower-case key -> merged name
        keys: dict[str, dict[str, str]] = {k: {} for k in KINDS}
        pending = list(raws)
        while pending:
            # an entry extending one defined later (in a later file of the same folder) waits for it
            waiting: list[_Raw] = []
            for r in pending:
                data = dict(r.data)
                base = data.pop("extends", None)
                name = data.get("name")
                if not name:
                    raise RainierError(f"{r.file}: a {r.kind[:-1]} entry has no name", fix="add name: to every entry")
                for what, v in (("name", name), ("extends", base)):
                    if v is not None and not isinstance(v, str):
                        raise RainierError(f"{r.file}: a {r.kind[:-1]} entry's {what} is {type(v).__name__}, not a name",
                                           field=what, fix=f"write {what}: as one name, e.g. {what}: h100")
                old = keys[r.kind].get(name.lower())
                if base is not None:
                    hit = keys[r.kind].get(base.lower())
                    if hit is None:
                        waiting.append(r)
                        continue
                    data = _extend(merged[r.kind][hit], data, keep_aliases=hit == old)
                if old is not None and old != name:
                    # "H100" replaces "h100": one entry, under the name other entries (systems) refer to
                    name = old
                    data["name"] = old
                merged[r.kind][name] = data
                files_of[(r.kind, name)] = r.file
                if old is not None:  # the replaced entry's aliases go (the new entry's are added below)
                    keys[r.kind] = {k: v for k, v in keys[r.kind].items() if v != old}
                for a in [name, *(x for x in (data.get("aliases") or []) if isinstance(x, str))]:
                    keys[r.kind].setdefault(a.lower(), name)
            if len(waiting) == len(pending):
                r = waiting[0]
                base = str(r.data.get("extends"))
                raise UnknownNameError(r.kind[:-1], base, merged[r.kind], field=f"{r.file}: {r.data.get('name')}: extends")
            pending = waiting
        # An entry overriding a built-in one should take its aliases off the old name.
        for kind, by_name in merged.items():
            for name, data in by_name.items():
                entries[kind][name] = _validate(kind, data, files_of[(kind, name)])
        cat = cls(entries, files_of)
        # names are looked up case-insensitively: "H100" replaces "h100" as surely as "h100" does
        builtin = {(r.kind, str(r.data.get("name")).lower()) for r in raws[:n_builtin]}
        cat.overrides = sorted({(_SINGULAR.get(r.kind, r.kind), str(r.data.get("name")), r.file)
                                for r in raws[n_builtin:] if (r.kind, str(r.data.get("name")).lower()) in builtin})
        # a user's system naming an unknown network or chip ran on fallbacks (a 10 us link): refuse it here, as
        # `rainier catalog check` does
        bad = cat.check_references() if check_refs else []
        if bad:
            b = bad[0]
            raise RainierError(f"{b.file}: {b.entry}: {b.message}", field=b.field,
                               fix="name an entry of the catalog (`rainier catalog list`) or add it to your files")
        return cat

    # --- lookup ---------------------------------------------------------------------------------
    def names(self, kind: str) -> builtins.list[str]:
        return sorted(self._entries[_kind(kind)])

    def list(self, kind: str) -> builtins.list[Entry]:
        k = _kind(kind)
        return [self._entries[k][n] for n in sorted(self._entries[k])]

    def file_of(self, kind: str, name: str) -> str:
        return self._files.get((_kind(kind), name), "")

    def get(self, kind: str, name_or_path: str | Path, field: str | None = None) -> Entry:
        k = _kind(kind)
        key = str(name_or_path)
        if key.endswith((".yaml", ".yml")) or os.sep in key and Path(key).exists():
            return load_entry_file(Path(key), k, self, field=field)
        hit = self._alias[k].get(key.lower())
        if hit is None:
            raise UnknownNameError(k[:-1], key, list(self._entries[k]) + [a for e in self._entries[k].values() for a in e.aliases], field=field)
        return self._entries[k][hit]

    def find(self, name: str) -> tuple[str, Entry]:
        """Look a name up in every kind (for `catalog show`)."""
        for k in KINDS:
            hit = self._alias[k].get(name.lower())
            if hit is not None:
                return k, self._entries[k][hit]
        every = [n for k in KINDS for n in self._entries[k]]
        raise UnknownNameError("catalog entry", name, every, field="NAME")

    def accelerator(self, name: str | Path, field: str = "--chip") -> Accelerator:
        return self.get("accelerators", name, field)  # type: ignore[return-value]

    def system(self, name: str | Path, field: str = "--system") -> System:
        return self.get("systems", name, field)  # type: ignore[return-value]

    def network(self, name: str | Path, field: str = "network") -> Network:
        return self.get("networks", name, field)  # type: ignore[return-value]

    def site(self, name: str | Path, field: str = "site") -> Site:
        return self.get("sites", name, field)  # type: ignore[return-value]

    def model(self, name: str | Path, field: str = "--model") -> Model:
        return self.get("models", name, field)  # type: ignore[return-value]

    def economics(self, name: str = "default") -> Economics:
        return self.get("economics", name, "economics")  # type: ignore[return-value]

    def system_for(self, chip: Accelerator | str, system: str | None = None) -> System:
        """The system a chip is bought in: the one named, else the chip's default, else the first that holds it."""
        acc = self.accelerator(chip) if isinstance(chip, str) else chip
        if system:
            s = self.system(system)
            if s.accelerator != acc.name:
                raise RainierError(
                    f"system '{s.name}' holds '{s.accelerator}', not '{acc.name}'", field="--system",
                    fix=f"pick a system of {acc.name}: {', '.join(self.systems_of(acc.name)) or 'none in catalog'}",
                )
            return s
        if acc.default_system and acc.default_system in self._entries["systems"]:
            d: System = self._entries["systems"][acc.default_system]  # type: ignore[assignment]
            return d if d.accelerator == acc.name else self._adapted(d, acc)
        options = self.systems_of(acc.name)
        if not options:
            raise RainierError(f"no system in the catalog holds '{acc.name}'", field="--chip",
                               fix="add a systems: entry with accelerator: " + acc.name)
        return self._entries["systems"][options[0]]  # type: ignore[return-value]

    def _adapted(self, s: System, acc: Accelerator) -> System:
        """A chip that inherits its default system from another (a user chip with ``extends: h100``) is bought in
        that system with its own chips in it: the system's power moves by each chip's TDP difference (a 600 W
        H100 variant in a DGX H100 draws 8 x 100 W less), hosts, fans and NICs unchanged."""
        try:
            base = self.accelerator(s.accelerator)
        except RainierError:
            return s.model_copy(update={"accelerator": acc.name})
        power = max(s.system_power_w + s.chips * (acc.tdp_w - base.tdp_w), s.chips * acc.tdp_w)
        return s.model_copy(update={"accelerator": acc.name, "system_power_w": power})

    def systems_of(self, chip_name: str) -> builtins.list[str]:
        return sorted(n for n, s in self._entries["systems"].items() if getattr(s, "accelerator", None) == chip_name)

    def check_references(self) -> builtins.list[Problem]:
        """Cross-entry checks: systems name known accelerators and networks, defaults exist."""
        out: builtins.list[Problem] = []
        for s in self._entries["systems"].values():
            assert isinstance(s, System)
            f = self.file_of("systems", s.name)
            if s.accelerator not in self._entries["accelerators"]:
                out.append(Problem(f, s.name, "accelerator", f"unknown accelerator '{s.accelerator}'"))
            if s.scaleout.network not in self._entries["networks"]:
                out.append(Problem(f, s.name, "scaleout.network", f"unknown network '{s.scaleout.network}'"))
        for a in self._entries["accelerators"].values():
            assert isinstance(a, Accelerator)
            if a.default_system and a.default_system not in self._entries["systems"]:
                out.append(Problem(self.file_of("accelerators", a.name), a.name, "default_system",
                                   f"unknown system '{a.default_system}'"))
        return out


def _kind(kind: str) -> str:
    k = SINGULAR.get(kind, kind)
    if k not in KINDS:
        raise RainierError(f"unknown catalog kind '{kind}'", field="KIND", fix=f"use one of {', '.join(KINDS)}")
    return k


def _extend(parent: dict[str, Any], own: dict[str, Any], keep_aliases: bool = False) -> dict[str, Any]:
    """An entry that ``extends:`` another: the parent's fields under its own, nested mappings merged (overriding
    ``peak_tflops: {bf16: 1100}`` keeps the other precisions); no aliases of the parent unless the entry re-specifies
    the same name (``keep_aliases``); the figures it gives are its own, not the parent's estimates nor sourced to
    the parent's references."""
    data = {**parent, **{k: ({**parent[k], **v} if isinstance(v, dict) and isinstance(parent.get(k), dict) else v)
                         for k, v in own.items()}}
    if "aliases" not in own:
        data["aliases"] = list(parent.get("aliases") or []) if keep_aliases else []
    mine = set(own) - {"name", "extends", "source", "estimated", "field_sources", "aliases"}
    if "estimated" not in own and isinstance(parent.get("estimated"), (list, tuple)):
        data["estimated"] = [f for f in parent["estimated"] if f not in mine]
    if "field_sources" not in own and isinstance(parent.get("field_sources"), dict):
        data["field_sources"] = {k: v for k, v in parent["field_sources"].items() if k not in mine}
    return data


def load_entry_file(path: Path, kind: str, catalog: Catalog | None = None, field: str | None = None) -> Entry:
    """One entry of ``kind`` from a YAML file (a bare mapping, ``kind:`` form, or a one-item list); ``field`` names
    the flag that gave the path in errors."""
    where = field or kind[:-1]
    if not path.exists():
        raise RainierError(f"file {path} does not exist", field=where, fix="give a catalog name or an existing YAML file")
    if path.is_dir():
        raise RainierError(f"{path} is a folder, not a YAML file", field=where,
                           fix="give a catalog name or a YAML file (a folder of them goes to --catalog)")
    doc = _read_yaml(path)
    if isinstance(doc, dict) and "kind" not in doc and kind not in doc and "name" in doc:
        data = dict(doc)
    else:
        found = [r.data for r in _raw_entries(path) if r.kind == kind]
        if len(found) != 1:
            raise RainierError(f"{path}: expected exactly one {kind[:-1]} entry, found {len(found)}")
        data = dict(found[0])
    base = data.pop("extends", None)
    if base is not None:
        cat = catalog or default_catalog()
        data = _extend(cat.get(kind, base).model_dump(exclude_defaults=True), data)
    entry = _validate(kind, data, str(path))
    if kind == "systems" and catalog is not None:
        assert isinstance(entry, System)
        net = entry.scaleout.network
        if net not in catalog.names("network"):
            raise RainierError(f"{path}: {entry.name}: unknown network '{net}'", field="scaleout.network",
                               fix=f"use one of {', '.join(catalog.names('network'))}")
    return entry


def check_dir(directory: str | Path) -> list[Problem]:
    """Every problem in a user's catalog folder (or one YAML file, as ``--catalog`` also takes), with file,
    entry and field; [] when all is well. A source with no entries at all (no YAML files, or only empty
    ones) is a problem: it is almost always the wrong path."""
    d = Path(directory)
    if not d.exists():
        raise RainierError(f"directory {d} does not exist", field="DIR", fix="give the folder holding your YAML files")
    problems: list[Problem] = []
    files = _yaml_files(d)
    if not files:
        return [Problem(str(d), "-", "-", "no .yaml files found")]
    all_raws: list[_Raw] = []
    unreadable = False
    for f in files:
        try:
            all_raws.extend(_raw_entries(f))
        except RainierError as exc:
            problems.append(Problem(str(f), "-", "-", str(exc)))
            unreadable = True
    if not all_raws and not unreadable:
        return [Problem(str(d), "-", "-", "no catalog entries found (the YAML files are empty)")]
    for kind, name, where in _duplicates(all_raws):
        problems.append(Problem(", ".join(dict.fromkeys(where)), name, "name",
                                f"{kind[:-1]} '{name}' is defined {len(where)} times; keep one entry per name"))
    builtin = Catalog.load(use_env=False)
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for r in all_raws:
        data = dict(r.data)
        base = data.pop("extends", None)
        if base is not None:
            # An extending entry is checked as it will be used: merged onto its base.
            if (r.kind, str(base)) in seen:
                data = {**seen[(r.kind, str(base))], "aliases": [], **data}
            else:
                try:
                    b = builtin.get(r.kind, str(base))
                except RainierError as exc:
                    problems.append(Problem(r.file, str(data.get("name", "?")), "extends", str(exc)))
                    continue
                data = {**b.model_dump(exclude_defaults=True), "aliases": [], **data}
        problems.extend(_problems(r.kind, data, r.file))
        if "name" in data:
            seen[(r.kind, str(data["name"]))] = data
    if not problems:
        try:
            cat = Catalog.load([d], use_env=False, check_refs=False)  # every reference problem, not the first
            problems.extend(cat.check_references())
        except RainierError as exc:
            problems.append(Problem(str(d), "-", "-", str(exc)))
    return problems


@lru_cache(maxsize=8)
def _cached(extra: tuple[str, ...], env: str, stamp: tuple[tuple[str, int, int], ...]) -> Catalog:
    return Catalog.load(extra)


def _stamp(dirs: Iterable[str]) -> tuple[tuple[str, int, int], ...]:
    """Each user YAML file with its modification time and size: an edited, added or removed file makes a new
    cache key, so a long-running session re-reads it (the built-in data does not change under a running process)."""
    out = []
    for d in dirs:
        p = Path(d)
        if p.exists():
            for f in _yaml_files(p):
                st = f.stat()
                out.append((str(f), st.st_mtime_ns, st.st_size))
    return tuple(out)


def default_catalog(extra_dirs: Iterable[str | Path] = ()) -> Catalog:
    """The merged catalog, cached per set of directories, RAINIER_CATALOG value and the state of their files."""
    extra = tuple(str(d) for d in extra_dirs)
    env = os.environ.get("RAINIER_CATALOG", "")
    user = extra + tuple(p for p in env.split(os.pathsep) if p)
    return _cached(extra, env, _stamp(user) if user else ())

