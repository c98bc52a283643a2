import pytest
from django.core.exceptions import ImproperlyConfigured

from lib.env import envnetworks, envrate


def test_envnetworks_reads_addresses_and_networks(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,fd00::/8")
    assert envnetworks("TRUSTED_PROXIES") == ["10.0.0.0/8", "192.0.2.7", "fd00::/8"]


def test_envnetworks_refuses_what_is_not_a_network(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,proxy.internal")
    with pytest.raises(ImproperlyConfigured, match=r"proxy\.internal"):
        envnetworks("TRUSTED_PROXIES")


def test_envrate_refuses_a_rate_without_a_known_period(monkeypatch):
    monkeypatch.setenv("AUTH_THROTTLE_RATE", "20/fortnight")
    with pytest.raises(ImproperlyConfigured, match="not a rate"):
        envrate("AUTH_THROTTLE_RATE", "20/min")


def test_envrate_reads_drf_notation(monkeypatch):
    monkeypatch.setenv("AUTH_THROTTLE_RATE", "5/hour")
    assert envrate("AUTH_THROTTLE_RATE", "20/min") == "5/hour"
