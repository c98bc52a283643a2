"""The Apprise URLs the importers build are ones Apprise can send to, once the references
hold real-looking values (what the channel validation asks at plan time)."""

from __future__ import annotations

import apprise
import pytest

from config.importers import apprise_urls as urls

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(
    ("url", "plugin"),
    [
        (urls.telegram(TOKEN, "-100123456789"), "NotifyTelegram"),
        (urls.telegram(TOKEN, "-100123456789", topic="42"), "NotifyTelegram"),
        (urls.pagerduty("abcdef0123456789abcdef0123456789", "u+apikey123"), "NotifyPagerDuty"),
        (urls.opsgenie("00000000-0000-0000-0000-000000000000", eu=True), "NotifyOpsgenie"),
        (
            urls.pushover("uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "azGDORePK8gMaC0QOYAMyEEuzJnyUi",
                          device="phone", priority=1),
            "NotifyPushover",
        ),
        (urls.matrix("https://matrix.example.org", "syt_abc", "!room:matrix.example.org"),
         "NotifyMatrix"),
        (urls.ntfy("https://ntfy.example.org", "alerts", priority=4, token="tk_abc"), "NotifyNtfy"),
        (urls.ntfy("http://ntfy.local:8080", "alerts", user="bob", password="pw"), "NotifyNtfy"),
        (urls.gotify("https://gotify.example.org/sub/", "AbCdEf123", priority=8), "NotifyGotify"),
    ],
)  # fmt: skip
def test_apprise_recognises_each_url(url, plugin):
    assert type(apprise.Apprise.instantiate(url)).__name__ == plugin


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (urls.ntfy("http://ntfy.local:8080", "t", user="bob", password="${P}"),
         "ntfy://bob:${P}@ntfy.local:8080/t"),
        (urls.gotify("https://g.example.org/sub/", "${T}"), "gotifys://g.example.org/sub/${T}"),
        (urls.opsgenie("${K}"), "opsgenie://${K}"),
        (urls.matrix("http://m.local", "${T}", "#room:m.local"), "matrix://${T}@m.local/#room:m.local"),
    ],
)  # fmt: skip
def test_references_stay_references_in_the_url(url, expected):
    assert url == expected
