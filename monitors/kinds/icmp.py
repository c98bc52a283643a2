"""icmp: ping a host ``ping_count`` times and judge the packet loss and the round trips.

The echo requests go out through ``lib.icmp`` (unprivileged ICMP datagram sockets where the
kernel allows them), to the address the outbound guard judged. The response time stored is
the average round trip of the answered pings; the loss and min/max are in the reason and in
the snapshot the assertions read (``packet_loss_below``, ``rtt_below``). No reply at all is
a timeout, some reply is UP unless an assertion says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.core.exceptions import ValidationError

from lib import icmp, outbound
from monitors.judge import Verdict, judge_assertions
from monitors.kinds.base import MonitorKind
from monitors.models import PING_COUNT, CheckPhase, CheckStatus

if TYPE_CHECKING:
    from monitors.models import Monitor

# Pings are spread over at most half the timeout, so the last one has the other half to be
# answered; 200 ms apart at most (ping(8)'s floor for users) keeps a check short.
PING_INTERVAL = 0.2


@dataclass(frozen=True)
class IcmpSnapshot:
    peer_address: str  # the address pinged, the [IP] of a condition
    sent: int
    received: int
    packet_loss: float  # percent
    rtt_min_ms: float
    rtt_avg_ms: float
    rtt_max_ms: float
    cert_expires_at: None = None
    status_code: None = None

    @property
    def elapsed_ms(self) -> int:
        return round(self.rtt_avg_ms)


def ping_count(monitor: Monitor) -> int:
    return monitor.ping_count or PING_COUNT


class IcmpKind(MonitorKind):
    name = "icmp"
    fields = frozenset({"host", "ping_count"})
    required = ("host",)

    def validate(self, monitor: Monitor) -> None:
        # Said when the monitor is written, not at its first check; the web process and the
        # workers should run with the same sysctl (README, "Monitor kinds").
        reason = icmp.unavailable_reason()
        if reason is not None:
            raise ValidationError({"kind": [reason]})
        super().validate(monitor)

    def probe(self, monitor: Monitor, *, deadline: float) -> IcmpSnapshot:
        count = ping_count(monitor)
        interval = min(PING_INTERVAL, monitor.timeout / 2 / count)
        result = icmp.ping(monitor.host, count=count, interval=interval, deadline=deadline)
        trips = result.round_trips_ms
        if not trips:
            raise outbound.OutboundError(
                outbound.Phase.TIMEOUT,
                f"No reply from {icmp.where(monitor.host, result.address)} to {count} pings "
                f"within {monitor.timeout:g}s",
            )
        return IcmpSnapshot(
            peer_address=result.address,
            sent=result.sent,
            received=len(trips),
            packet_loss=result.packet_loss,
            rtt_min_ms=min(trips),
            rtt_avg_ms=sum(trips) / len(trips),
            rtt_max_ms=max(trips),
        )

    def verdict(self, monitor: Monitor, snapshot: IcmpSnapshot, *, now: datetime) -> Verdict:
        summary = (
            f"{snapshot.received}/{snapshot.sent} replies from {snapshot.peer_address}, "
            f"{snapshot.packet_loss:g}% loss, round trip min/avg/max "
            f"{snapshot.rtt_min_ms:.3f}/{snapshot.rtt_avg_ms:.3f}/{snapshot.rtt_max_ms:.3f} ms"
        )
        return judge_assertions(snapshot, monitor.assertions or [], now=now) or Verdict(
            CheckStatus.UP, CheckPhase.NONE, summary
        )

    def describe(self, monitor: Monitor) -> str:
        return f"icmp {monitor.host} ({ping_count(monitor)} pings)"
