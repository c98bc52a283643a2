"""Reading a document of monitors as code: YAML or JSON, one file or a directory of them.

Every mapping remembers the line of each of its keys (a YAML loader recording node start
marks; JSON is read by the same loader, YAML being a superset), so a problem is reported as
``file:line: field: reason``. ``${NAME}`` references are resolved here from the variables
given (the environment for the CLI, less the server's own settings; the request's
``variables`` for the API); a missing one is a problem naming it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError

from lib.env import SETTINGS_READ
from lib.parsers import MAX_JSON_DEPTH

SECTIONS = (  # applied in this order
    "channels",
    "monitors",
    "escalation_policies",
    "status_pages",
    "maintenance_windows",
)
SUFFIXES = (".yaml", ".yml", ".json")
VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
# Bounds on what a text may make the loader build. PyYAML composes recursively (a few KB of
# "[[[[..." raised RecursionError, a 500), and an alias repeats its anchor's whole value:
# ~200 bytes of nested aliases made a Gatus import walk 4.7 million conditions (19 s; one
# level more is 9 times that). Real documents nest a handful of levels and hold thousands
# of values, not hundreds of thousands.
MAX_DEPTH = MAX_JSON_DEPTH
MAX_VALUES = 200_000


@dataclass(frozen=True)
class Problem:
    source: str
    line: int | None
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line else self.source
        return f"{where}: {self.field}: {self.reason}"


class DocumentError(Exception):
    """The document cannot be applied; ``problems`` says every reason found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class LocatedMap(dict):
    """A mapping that knows its own line and the line of each key (None: not from text)."""

    line: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lines: dict[str, int] = {}

    def line_of(self, key: str) -> int | None:
        return self.lines.get(key, self.line)


@dataclass
class Entry:
    """One object of the document: its section, its fields, and where it was written."""

    section: str
    data: LocatedMap
    source: str

    @property
    def key(self) -> str:
        return str(self.data.get("key", ""))

    def problem(self, name: str, reason: str) -> Problem:
        label = f"{self.section}.{self.key or '?'}"
        return Problem(self.source, self.data.line_of(name), f"{label}.{name}", reason)


@dataclass
class Document:
    entries: list[Entry] = field(default_factory=list)

    def section(self, name: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.section == name]


class _Loader(yaml.SafeLoader):
    source = ""
    problems: list[Problem]
    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                reason = f"Nested too deeply (more than {MAX_DEPTH} levels)."
                raise ComposerError(None, None, reason, mark)
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and _expanded_size(node, {}, []) > MAX_VALUES:
            reason = f"More than {MAX_VALUES} values once its aliases are expanded."
            raise ComposerError(None, None, reason, node.start_mark)
        return node


def _expanded_size(node: yaml.Node, measured: dict[int, tuple[int, int]], path: list[int]) -> int:
    """How many values ``node`` becomes, an alias counting its anchor's whole value again
    (each node measured once, with its height). ``path`` holds the nodes above: an alias may
    nest a value deeper than its text shows, or inside itself (``&a [*a]``), and everything
    after the loader recurses through the values."""
    if id(node) in path:
        reason = "An alias refers to a value that contains it."
        raise ComposerError(None, None, reason, node.start_mark)
    if id(node) not in measured:
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        path.append(id(node))
        size = 1 + sum(_expanded_size(child, measured, path) for child in children)
        height = 1 + max((measured[id(child)][1] for child in children), default=0)
        path.pop()
        measured[id(node)] = (size, height)
    size, height = measured[id(node)]
    if len(path) + height > MAX_DEPTH:
        reason = f"Nested too deeply (more than {MAX_DEPTH} levels)."
        raise ComposerError(None, None, reason, node.start_mark)
    return size


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> LocatedMap:
    loader.flatten_mapping(node)
    mapping = LocatedMap()
    mapping.line = node.start_mark.line + 1
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        if key in mapping:
            loader.problems.append(Problem(loader.source, line, str(key), "Duplicate field."))
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.lines[key] = line
    return mapping


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def load_located(text: str, *, source: str) -> Any:
    """YAML or JSON text as Python values whose mappings are ``LocatedMap``s (an importer
    reads other tools' files with it); raises ``DocumentError`` for text that is no YAML or
    has a duplicate field."""
    content, problems = _load(text, source)
    if problems:
        raise DocumentError(problems)
    return content


def _load(text: str, source: str) -> tuple[Any, list[Problem]]:
    loader = _Loader(text)
    loader.source, loader.problems = source, []
    try:
        return loader.get_single_data(), loader.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise DocumentError([Problem(source, line, "document", str(exc.problem))]) from None
    finally:
        loader.dispose()


def parse_text(text: str, *, source: str) -> Document:
    """A document from YAML or JSON text; ``source`` names it in problems."""
    content, problems = _load(text, source)
    document = from_content(content, source=source)
    if problems:
        raise DocumentError(problems)
    return document


def from_content(content: Any, *, source: str) -> Document:
    """A document from parsed content (a mapping of sections to lists of objects)."""
    content = _located(content)
    if content is None:
        return Document()
    if not isinstance(content, LocatedMap):
        raise DocumentError([Problem(source, 1, "document", "Expected a mapping of sections.")])
    problems, entries = [], []
    for name, items in content.items():
        line = content.line_of(name)
        if name not in SECTIONS:
            expected = ", ".join(SECTIONS)
            problems.append(Problem(source, line, name, f"Unknown section; expected {expected}."))
        elif not isinstance(items, list):
            problems.append(Problem(source, line, name, "Expected a list of objects."))
        else:
            for item in items:
                if isinstance(item, LocatedMap):
                    entries.append(Entry(name, item, source))
                else:
                    problems.append(Problem(source, line, name, "Each item must be a mapping."))
    if problems:
        raise DocumentError(problems)
    return Document(entries)


def _located(value: Any) -> Any:
    """Plain dicts (a JSON body) as ``LocatedMap``s without lines, recursively."""
    if isinstance(value, LocatedMap):
        return value
    if isinstance(value, Mapping):
        return LocatedMap({key: _located(item) for key, item in value.items()})
    if isinstance(value, list):
        return [_located(item) for item in value]
    return value


def document_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
    return [path]


def read_path(path: Path) -> Document:
    """Every file of ``path`` (a file, or a directory searched recursively) as one document."""
    problems: list[Problem] = []
    document = Document()
    for file in document_files(path):
        try:
            document.entries += parse_text(file.read_text(), source=str(file)).entries
        except DocumentError as exc:
            problems += exc.problems
        except OSError as exc:
            problems.append(Problem(str(file), None, "document", exc.strerror or str(exc)))
    if problems:
        raise DocumentError(problems)
    return document


def environment_variables(environ: Mapping[str, str]) -> dict[str, str]:
    """What a document run from the command line may read of ``environ``: everything but
    the server's own settings (``SECRET_KEY``, ``DATABASE_URL``...; lib/env.py), which a file
    from elsewhere, an imported Gatus config say, could otherwise put in a URL it checks."""
    return {name: value for name, value in environ.items() if name not in SETTINGS_READ}


def resolve_variables(entry: Entry, variables: Mapping[str, str]) -> tuple[dict, list[Problem]]:
    """The entry's fields with ``${NAME}`` replaced, and a problem per missing variable."""
    problems: list[Problem] = []

    def resolve(name: str, value: Any) -> Any:
        if isinstance(value, str):
            for missing in _missing(value, variables):
                reason = (
                    f"The variable {missing} is a setting of this server; a document cannot "
                    "read it."
                    if missing in SETTINGS_READ
                    else f"The variable {missing} is not set."
                )
                problems.append(entry.problem(name, reason))
            return VARIABLE.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
        if isinstance(value, Mapping):
            return {key: resolve(name, item) for key, item in value.items()}
        if isinstance(value, list):
            return [resolve(name, item) for item in value]
        return value

    return {name: resolve(name, value) for name, value in entry.data.items()}, problems


def _missing(text: str, variables: Mapping[str, str]) -> Iterator[str]:
    for match in VARIABLE.finditer(text):
        if match.group(1) not in variables:
            yield match.group(1)


def placeholder(*parts: str) -> str:
    """``${CHANNEL_OPS_WEBHOOK_SIGNING_SECRET}``: where export writes a secret's name."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", "_".join(parts)).strip("_").upper()
    return "${" + name + "}"
