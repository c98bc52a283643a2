"""The per-team quota on channels (``TEAM_MAX_CHANNELS``, 0 = unlimited); see monitors/quotas.py
for monitors. ``channel_create`` checks it under the team lock."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError

from notifications.models import Channel


def validate_channel_quota(*, team_id: int) -> None:
    """Refuse another channel for a team that has ``TEAM_MAX_CHANNELS`` of them."""
    limit = settings.TEAM_MAX_CHANNELS
    if not limit:
        return
    count = Channel.objects.filter(team_id=team_id).count()
    if count >= limit:
        raise ValidationError(
            f"This team has {count} channels, its limit (TEAM_MAX_CHANNELS) is {limit}: "
            "delete channels before adding another."
        )
