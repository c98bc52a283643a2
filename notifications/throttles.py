"""How often a channel may be tested: ``CHANNEL_TEST_THROTTLE_RATE`` per user and per team.

A test sends a message now, to a URL or addresses the user typed: unthrottled, 60 test
webhooks went out in 3.2 s. Per user, so one account cannot spread tests over many teams;
per team, so several accounts cannot share one target. Counted by DRF's rate throttle in
Django's default cache, which every web process shares (settings.CACHE_URL), so the rate
holds however many processes serve the API and the dashboard.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class ChannelTestThrottled(Exception):
    def __init__(self, wait: float | None) -> None:
        self.wait = wait
        super().__init__(
            f"Too many channel tests; at most {settings.CHANNEL_TEST_THROTTLE_RATE} per user "
            "and per team."
        )


class _ChannelTestRate(SimpleRateThrottle):
    scope = "channel_test"

    def __init__(self, ident: str) -> None:
        self.ident = ident
        super().__init__()

    def get_rate(self) -> str:
        return settings.CHANNEL_TEST_THROTTLE_RATE  # read now, so tests and operators can set it

    def get_cache_key(self, request, view) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.ident}


def channel_test_throttle(*, user_id: int, team_id: int) -> None:
    """Count one test against the user and the team; raise ``ChannelTestThrottled`` (with the
    seconds to wait) if either has used its rate."""
    for ident in (f"user-{user_id}", f"team-{team_id}"):
        rate = _ChannelTestRate(ident)
        # The key is the ident, not the request: there may be none (the dashboard).
        if not rate.allow_request(None, None):  # type: ignore[arg-type]
            raise ChannelTestThrottled(rate.wait())
