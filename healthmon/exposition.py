"""/metrics: every process's counters plus gauges read from stored state at scrape time.

What a scrape returns:
- django-prometheus' request, response and database metrics and healthmon's own counters
  (``lib.metrics``), merged over all processes in multiprocess mode;
- ``StateCollector``: monitors by state, open incidents, dead letters, queue depths, workers
  seen per queue, beat's last tick, and per-monitor gauges in the style of blackbox_exporter
  for at most ``METRICS_MONITOR_LIMIT`` monitors (down ones first), so a scrape of a very
  large install stays a handful of indexed queries.

Access: ``METRICS_TOKEN`` (``Authorization: Bearer <token>``) and/or ``METRICS_ALLOWED_IPS``
(addresses or networks, matched against the connecting address, never X-Forwarded-For).
When both are set, both must match.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterable, Iterator

from django.conf import settings
from django.db.models import Case, Count, IntegerField, Value, When
from django.http import HttpRequest, HttpResponse
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from healthmon import heartbeats, multiproc, probes

logger = logging.getLogger(__name__)


def _gauge(name: str, documentation: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, labels=labels)


class StateCollector:
    """Gauges read from PostgreSQL, the broker and the heartbeat store when scraped."""

    def collect(self) -> Iterator[Metric]:
        success = _gauge(
            "healthmon_collector_success",
            "1 if this part of the scrape-time collection worked, else 0.",
            ["collector"],
        )
        for name, part in (
            ("database", self._database),
            ("broker", self._broker),
            ("heartbeats", self._heartbeats),
        ):
            try:
                families = list(part())
            except Exception:
                logger.warning("metrics: the %s collector failed", name, exc_info=True)
                success.add_metric([name], 0)
                continue
            success.add_metric([name], 1)
            yield from families
        yield success

    # --- database ----------------------------------------------------------------------------

    def _database(self) -> Iterable[Metric]:
        # Imported here: the apps import healthmon, not the other way round at import time.
        from incidents.selectors import count_open_incidents
        from monitors.models import Monitor
        from monitors.rollups import rollup_backlog
        from notifications.selectors import dead_letter_backlog, deliveries_in_flight

        monitor_model = Monitor

        monitors = _gauge(
            "healthmon_monitors",
            "Monitors by state: up, down, unknown (active, by the incident verdict) and paused.",
            ["state"],
        )
        counts = {"up": 0, "down": 0, "unknown": 0, "paused": 0}
        rows = monitor_model.objects.values("is_active", "status").annotate(n=Count("id"))
        for row in rows.order_by():
            state = row["status"] if row["is_active"] else "paused"
            counts[state] = counts.get(state, 0) + row["n"]
        for state, count in counts.items():
            monitors.add_metric([state], count)
        yield monitors

        open_incidents = _gauge("healthmon_open_incidents", "Incidents not resolved yet.")
        open_incidents.add_metric([], count_open_incidents())
        yield open_incidents

        dead_letters = _gauge(
            "healthmon_dead_letters",
            "Dead letters not replayed yet: tasks that failed for good (see admin or "
            "`manage.py deadletters list`).",
        )
        dead_letters.add_metric([], sum(dead_letter_backlog().values()))
        yield dead_letters

        deliveries = _gauge(
            "healthmon_deliveries_undelivered",
            "Deliveries not delivered, by status (pending, sending, failed, dead, skipped).",
            ["status"],
        )
        in_flight = deliveries_in_flight()
        for status in ("pending", "sending", "failed", "dead"):
            in_flight.setdefault(status, 0)
        for status, count in sorted(in_flight.items()):
            deliveries.add_metric([status], count)
        yield deliveries

        backlog = rollup_backlog()
        rollup_lag = _gauge(
            "healthmon_rollup_lag_seconds",
            "Age of the oldest check result not merged into rollups yet (0 when caught up): "
            "uptime and SLA reports lag this far behind.",
        )
        rollup_lag.add_metric([], backlog.oldest_pending_seconds)
        yield rollup_lag

        yield from self._per_monitor(
            monitor_model, active=counts["up"] + counts["down"] + counts["unknown"]
        )

    def _per_monitor(self, monitor_model, *, active: int) -> Iterable[Metric]:
        limit = settings.METRICS_MONITOR_LIMIT
        labels = ["monitor_id", "monitor", "team"]
        up = _gauge(
            "healthmon_monitor_up",
            "1 if the monitor is up, 0 if down (incident verdict, thresholds applied); "
            "absent while unknown.",
            labels,
        )
        success = _gauge(
            "healthmon_monitor_last_check_success", "1 if the latest check succeeded.", labels
        )
        response = _gauge(
            "healthmon_monitor_last_response_seconds",
            "Response time of the latest check that got an answer.",
            labels,
        )
        status_code = _gauge(
            "healthmon_monitor_last_status_code", "HTTP status of the latest check.", labels
        )
        checked = _gauge(
            "healthmon_monitor_last_check_timestamp_seconds",
            "When the latest check ran (Unix time).",
            labels,
        )
        cert = _gauge(
            "healthmon_monitor_cert_expiry_timestamp_seconds",
            "When the monitored endpoint's TLS certificate expires (Unix time).",
            labels,
        )
        dropped = _gauge(
            "healthmon_monitor_series_dropped",
            "Active monitors left out of the per-monitor gauges by METRICS_MONITOR_LIMIT.",
        )
        rows = []
        if limit:
            rows = list(
                monitor_model.objects.filter(is_active=True)
                .annotate(
                    down_first=Case(
                        When(status="down", then=Value(0)),
                        default=Value(1),
                        output_field=IntegerField(),
                    )
                )
                .order_by("down_first", "id")
                .values_list(
                    "id",
                    "name",
                    "team__name",
                    "status",
                    "last_check_status",
                    "last_response_time_ms",
                    "last_status_code",
                    "last_checked_at",
                    "cert_expires_at",
                )[:limit]
            )
        for (
            monitor_id,
            name,
            team,
            status,
            last_check_status,
            response_ms,
            code,
            checked_at,
            cert_expires_at,
        ) in rows:
            values = [str(monitor_id), name, team]
            if status in ("up", "down"):
                up.add_metric(values, 1 if status == "up" else 0)
            if last_check_status:
                success.add_metric(values, 1 if last_check_status == "up" else 0)
            if response_ms is not None:
                response.add_metric(values, response_ms / 1000)
            if code is not None:
                status_code.add_metric(values, code)
            if checked_at is not None:
                checked.add_metric(values, checked_at.timestamp())
            if cert_expires_at is not None:
                cert.add_metric(values, cert_expires_at.timestamp())
        dropped.add_metric([], max(active - len(rows), 0))
        yield from (up, success, response, status_code, checked, cert, dropped)

    # --- broker --------------------------------------------------------------------------------

    def _broker(self) -> Iterable[Metric]:
        depth = _gauge("healthmon_queue_depth", "Messages waiting in each Celery queue.", ["queue"])
        for queue, count in probes.queue_depths().items():
            depth.add_metric([queue], count)
        yield depth

    # --- heartbeats ----------------------------------------------------------------------------

    def _heartbeats(self) -> Iterable[Metric]:
        tick = _gauge(
            "healthmon_beat_last_tick_timestamp_seconds",
            "When Celery beat last ticked (Unix time; 0 if it never did).",
        )
        tick.add_metric([], heartbeats.store().beat_last_tick() or 0)
        yield tick
        workers = _gauge(
            "healthmon_workers_seen",
            "Celery workers consuming each queue seen within HEALTH_WORKER_MAX_AGE seconds.",
            ["queue"],
        )
        for queue, hosts in probes.workers_by_queue(time.time()).items():
            workers.add_metric([queue], len(hosts))
        yield workers


class _Scrape:
    """One scrape: the process (or multiprocess) registry followed by the state gauges."""

    def __init__(self) -> None:
        self.parts = [multiproc.scrape_registry(), StateCollector()]

    def collect(self) -> Iterator[Metric]:
        for part in self.parts:
            yield from part.collect()


# --- Access --------------------------------------------------------------------------------


def _client_allowed(request: HttpRequest) -> bool:
    networks = settings.METRICS_ALLOWED_IPS
    if not networks:
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


def _token_valid(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    if not token:
        return True
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        presented.strip().encode(), token.encode()
    )


def metrics(request: HttpRequest) -> HttpResponse:
    if not _client_allowed(request):
        return HttpResponse("forbidden\n", status=403, content_type="text/plain")
    if not _token_valid(request):
        return HttpResponse(
            "a bearer token is required\n",
            status=401,
            content_type="text/plain",
            headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
        )
    return HttpResponse(generate_latest(_Scrape()), content_type=CONTENT_TYPE_LATEST)
