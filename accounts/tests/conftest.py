import pytest


@pytest.fixture
def registration_open(settings) -> None:
    """REGISTRATION_OPEN defaults to false; tests that register through the API open it."""
    settings.REGISTRATION_OPEN = True
