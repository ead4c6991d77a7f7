"""Loading a manifest: read (bounded, ``files``) -> YAML (bounded, with lines, ``yaml``) -> pydantic
(``schema``) -> run-ready specs (``expand``) -> collisions. Every problem is reported at once, each
naming the file, the line, the mapping and the field (SPEC: "Rejected at load").
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .._exceptions import ManifestError
from .collisions import check_collisions
from .expand import expand_mappings
from .files import RuleBase, read_manifest, rule_base
from .schema import ManifestModel
from .spec import Manifest
from .yaml import NO_MARKS, Marks, load_yaml, locate

MAX_REPORTED_PROBLEMS = 100  # problems listed when a manifest is refused; the rest are counted


@contextlib.contextmanager
def no_gc_pauses() -> Iterator[None]:
    """No cyclic GC during a load (YAML nodes, pydantic models, specs): its passes over the large,
    young object graph of a big manifest were a third of the load's CPU, and nothing built here
    needs collecting early. Memory stays bounded: the manifest's size and the YAML node budget bound
    what a load allocates (hostile 1 MiB inputs peak under ~100 MiB, see benchmarks/manifest_load.py),
    and collection resumes when the load ends, whether it succeeds or raises. Nesting is fine."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_manifest(location: str, *, stdin: Any = None) -> Manifest:
    """Read a manifest from a path, ``s3://bucket/key`` or ``-`` (stdin) and validate it.

    Reading is bounded and rule files are confined to the manifest's directory or S3 prefix
    (``files``); YAML loading is bounded and keeps lines (``yaml``).
    """
    text, origin, base = read_manifest(location, stdin=stdin)
    return parse_manifest(text, origin=origin, base_dir=base)


def parse_manifest(text: str, *, origin: str, base_dir: Path | RuleBase | None) -> Manifest:
    """Validate manifest ``text``; rule files are read relative to ``base_dir`` (None: no rule files)."""
    with no_gc_pauses():  # YAML nodes are the bulk of the young objects; see no_gc_pauses
        data, marks = load_yaml(text, origin=origin)
        return manifest_from_object(data, origin=origin, base_dir=base_dir, marks=marks)


def manifest_from_object(data: Any, *, origin: str, base_dir: Path | RuleBase | None,
                         marks: Marks = NO_MARKS) -> Manifest:
    """Validate a loaded manifest. ``marks`` (from ``load_yaml``) puts YAML lines in the messages;
    a manifest given as a Python object (the Lambda event) has none."""
    if not isinstance(data, dict):
        line = marks.line(())
        raise ManifestError([f"{origin}{f':{line}' if line else ''}: the manifest must be a mapping "
                             "with version, mappings, ..."])
    with no_gc_pauses():
        try:
            model = ManifestModel.model_validate(data)
        except ValidationError as exc:
            raise ManifestError(_capped(_describe_errors(origin, data, exc, marks))) from None
        problems: list[str] = []
        mappings = expand_mappings(model, origin, rule_base(base_dir), problems, marks)
        found = check_collisions(mappings, origin, problems, marks,
                                 limit=max(0, MAX_REPORTED_PROBLEMS - len(problems)))
    if problems:
        raise ManifestError(_capped(problems, found.total - found.examined))
    return Manifest(origin=origin, settings=model.settings, mappings=tuple(mappings))


def _capped(problems: list[str], unlisted: int = 0) -> list[str]:
    """At most MAX_REPORTED_PROBLEMS problems, then one "... and N more problems" line.

    ``unlisted``: problems counted but never described (the collision scan stops describing at
    the cap: n nested prefixes overlap in n^2/2 pairs, and listing them cost gigabytes)."""
    hidden = max(0, len(problems) - MAX_REPORTED_PROBLEMS) + unlisted
    if not hidden:
        return problems
    return [*problems[:MAX_REPORTED_PROBLEMS], f"... and {hidden} more problems"]


def _mapping_label(data: Any, index: int) -> str | None:
    try:
        m = data["mappings"][index]
        label = m.get("id") or (m["source"] if isinstance(m["source"], str) else m["source"].get("name"))
        return str(label) if label else None
    except (KeyError, IndexError, TypeError, AttributeError):
        return None


def _describe_errors(origin: str, data: Any, exc: ValidationError, marks: Marks = NO_MARKS) -> list[str]:
    """One ``{file}:{line}: mapping 'ID' (mappings[i]): field 'a.b': message`` per pydantic error."""
    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p if isinstance(p, int) else str(p) for p in err["loc"])
        label = _mapping_label(data, loc[1]) if len(loc) >= 2 and loc[0] == "mappings" and \
            isinstance(loc[1], int) else None
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        out.append(f"{locate(origin, marks, loc, label=label)}: {msg}")
    return out
