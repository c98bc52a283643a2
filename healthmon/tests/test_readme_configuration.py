"""README's configuration tables name every environment variable the processes read, and only those.

A variable read but not documented is a knob nobody finds; one documented but not read is a
setting an operator changes to no effect. Both were found by following the README by hand.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Where the processes read their configuration (settings, gunicorn, the port helpers, the
# worker's exporter, the Celery app, the Procfile's commands).
SOURCES = [
    "healthmon/settings.py",
    "healthmon/ports.py",
    "healthmon/multiproc.py",
    "healthmon/celery.py",
    "deploy/gunicorn.conf.py",
    "Procfile",
]
READERS = re.compile(
    r"""(?:env(?:str|bool|int|float|list|networks|rate|secret|fernetkeys)"""
    r"""|os\.environ\.get|os\.environ\.setdefault|os\.getenv)\(\s*"([A-Z][A-Z0-9_]+)\""""
    r"""|\$\{([A-Z][A-Z0-9_]+)[:}]"""
)
# Read by the process but not configuration an operator sets.
NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}
# Read by a library rather than by our code: prometheus_client's multiprocess mode.
READ_BY_LIBRARIES = {"PROMETHEUS_MULTIPROC_DIR"}
TABLE_ROW = re.compile(r"^\| (`[A-Z][A-Z0-9_]+`(?:, `[A-Z][A-Z0-9_]+`)*) \|", re.MULTILINE)


def read_variables() -> set[str]:
    found = set()
    for name in SOURCES:
        for match in READERS.finditer((ROOT / name).read_text()):
            found.add(match.group(1) or match.group(2))
    return (found | READ_BY_LIBRARIES) - NOT_CONFIGURATION


def documented_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return {name.strip("`") for cells in TABLE_ROW.findall(section) for name in cells.split(", ")}


def test_every_variable_read_is_in_the_configuration_tables():
    missing = read_variables() - documented_variables()

    assert not missing, f"add to README's Configuration tables: {sorted(missing)}"


def test_every_documented_variable_is_read():
    unread = documented_variables() - read_variables()

    assert not unread, f"documented in README but read nowhere: {sorted(unread)}"
