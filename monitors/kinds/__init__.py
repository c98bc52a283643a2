"""The monitor kinds: one class each, found by ``Monitor.kind`` in ``KINDS``.

Adding a kind is a class (``monitors.kinds.base.MonitorKind``: validate, probe, verdict,
describe), an entry here, a ``MonitorKind`` choice and, if it needs them, target fields on
the model (``base.TARGET_FIELDS``) and assertion types that name it in ``monitor_kinds``.
"""

from __future__ import annotations

from monitors.kinds.api import ApiKind
from monitors.kinds.base import MonitorKind
from monitors.kinds.dns import DnsKind
from monitors.kinds.heartbeat import HeartbeatKind
from monitors.kinds.http import HttpKind
from monitors.kinds.icmp import IcmpKind
from monitors.kinds.tcp import TcpKind
from monitors.kinds.tls import TlsKind

KINDS: dict[str, MonitorKind] = {
    kind.name: kind
    for kind in (
        HttpKind(),
        TcpKind(),
        DnsKind(),
        TlsKind(),
        ApiKind(),
        IcmpKind(),
        HeartbeatKind(),
    )
}
