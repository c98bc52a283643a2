"""The monitor list's queries are served by indexes on PostgreSQL (migration 0003).

The SQL is captured from real API calls and explained, so a change to the ordering, the
filters or Django's ``icontains`` SQL that stops matching the indexes fails here.
"""

import json
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Q
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitors.models import Monitor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL query plans"),
]

URL = "/api/v1/monitors/"


@pytest.fixture
def many_monitors(alice):
    later = timezone.now() + timedelta(hours=1)
    Monitor.objects.bulk_create(
        Monitor(
            team=alice.personal_team,
            name=f"service {index:05d}",
            url=f"https://svc{index}.example.com/health",
            status="up" if index % 10 else "down",
            next_check_at=later,
        )
        for index in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE monitors_monitor")


def page_query(client, path: str) -> str:
    """The SQL that fetched the page of monitors (the one with a LIMIT)."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path)
    assert response.status_code == 200, response.data
    selects = [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and 'FROM "monitors_monitor"' in query["sql"]
        and "LIMIT" in query["sql"]
    ]
    assert len(selects) == 1, selects
    return selects[0]


def plan_nodes(sql: str, *, seqscan: bool = True) -> list[dict]:
    with connection.cursor() as cursor:
        if not seqscan:
            cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (plan,) = cursor.fetchone()
        if not seqscan:
            cursor.execute("RESET enable_seqscan")
    plan = json.loads(plan) if isinstance(plan, str) else plan
    nodes, todo = [], [plan[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


def index_names(nodes: list[dict]) -> set[str]:
    return {node["Index Name"] for node in nodes if "Index Name" in node}


def test_first_page_is_read_in_order_from_the_team_name_index(alice_client, many_monitors):
    nodes = plan_nodes(page_query(alice_client, URL))

    assert "monitor_team_name_idx" in index_names(nodes)
    assert not [node for node in nodes if node["Node Type"] == "Sort"]


def test_status_filter_is_read_in_order_from_the_team_status_index(alice_client, many_monitors):
    nodes = plan_nodes(page_query(alice_client, f"{URL}?status=down"))

    assert "monitor_team_status_idx" in index_names(nodes)
    assert not [node for node in nodes if node["Node Type"] == "Sort"]


def test_search_can_use_the_trigram_indexes(alice, many_monitors):
    # The lookup DRF's SearchFilter builds for one term. With sequential scans priced out and
    # no team filter to lean on, only indexes matching Django's
    # UPPER(col::text) LIKE UPPER('%...%') can serve it.
    found = Monitor.objects.filter(Q(name__icontains="0042") | Q(url__icontains="0042"))
    sql, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        sql = cursor.mogrify(sql, params)

    nodes = plan_nodes(sql, seqscan=False)

    assert index_names(nodes) == {"monitor_name_trgm_idx", "monitor_url_trgm_idx"}
    assert found.count() == 11  # service 00042 and 00420 to 00429
