"""Housekeeping of accounts, run by beat."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from lib import task_names
from lib.task_acks import ACK_ON_RECEIPT


@shared_task(
    name=task_names.FLUSH_EXPIRED_TOKENS,
    **ACK_ON_RECEIPT,
    max_retries=0,
    time_limit=600,
    ignore_result=True,
)
def flush_expired_tokens() -> int:
    """Daily (beat): forget refresh tokens past their expiry, and their blacklist entries,
    so the table of issued tokens does not grow with every login forever."""
    deleted, _ = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
