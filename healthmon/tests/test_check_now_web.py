"""Check-now against a slow target must not tie up the web tier (the Procfile's gunicorn)."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import RefreshToken

from conftest import wait_for
from healthmon.tests.test_processes import child_env, free_port, get, procfile_process
from monitors.models import CheckNowRequest, CheckResult, Monitor
from monitors.tests.http_target import HttpTarget

PARALLEL = 10
TARGET_SECONDS = 5


def timed_request(url: str, *, method: str, token: str) -> tuple[int, float]:
    request = urllib.request.Request(
        url, method=method, headers={"Authorization": f"Bearer {token}"}
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    return status, time.monotonic() - started


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_ten_check_nows_of_a_slow_target_leave_the_web_responsive(
    celery_worker_process, tmp_path, alice
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    # One gunicorn worker with 4 threads: ten checks run in the web would hold every thread
    # for the target's 5 s, and the list request below would queue behind them.
    env = child_env(
        tmp_path,
        WEB_BIND=f"127.0.0.1:{port}",
        WEB_CONCURRENCY="1",
        WEB_THREADS="4",
        CHECK_NOW_MAX_CONCURRENT_PER_TEAM=str(PARALLEL),
    )
    token = str(RefreshToken.for_user(alice).access_token)
    with HttpTarget() as target:
        monitor = Monitor.objects.create(
            team=alice.personal_team,
            name="slow",
            url=target.url(f"/slow?s={TARGET_SECONDS}"),
            timeout=TARGET_SECONDS + 2,
            next_check_at=timezone.now() + timedelta(hours=1),
        )
        check_now = f"{base}/api/v1/monitors/{monitor.id}/check-now/"
        with procfile_process("web", env, tmp_path / "web.log") as web:
            wait_for(lambda: get(f"{base}/live")[0] == 200 or web.poll() is not None, timeout=60)
            assert web.poll() is None, (tmp_path / "web.log").read_text()

            with ThreadPoolExecutor(PARALLEL + 1) as pool:
                posts = [
                    pool.submit(timed_request, check_now, method="POST", token=token)
                    for _ in range(PARALLEL)
                ]
                time.sleep(0.3)  # the list request comes while the check-nows are out
                listing = pool.submit(
                    timed_request, f"{base}/api/v1/monitors/", method="GET", token=token
                )
                answered = [post.result() for post in posts]
                listed = listing.result()

            # The checks did run, on the worker, while the web had long answered.
            wait_for(
                lambda: (
                    CheckNowRequest.objects.filter(finished_at__isnull=False).count() == PARALLEL
                ),
                timeout=TARGET_SECONDS * 4,
                message="the worker did not answer every check-now",
            )

    assert [status for status, _ in answered] == [202] * PARALLEL
    # A check run inside the web would hold its thread for the whole TARGET_SECONDS (and ten
    # of them, on four threads, more than twice that): every answer well inside it shows the
    # web never waited on the target, with room for a loaded machine.
    assert max(seconds for _, seconds in answered) < TARGET_SECONDS / 2, answered
    assert listed[0] == 200
    assert listed[1] < TARGET_SECONDS / 2, listed
    assert CheckResult.objects.filter(monitor=monitor, status="up").count() == PARALLEL
