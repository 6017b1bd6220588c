"""A lock connection's health as last seen (status, error, when), written by whatever talked to the vendor
with its credentials: the connection test, and an access sync whose credentials were rejected."""

from django.utils import timezone

from locks.models import LockConnection


def connection_status_set(*, connection: LockConnection, status: str, error: str = "") -> None:
    now = timezone.now()
    LockConnection.objects.filter(pk=connection.pk).update(
        status=status, last_error=error[:2000], last_checked_at=now
    )
    connection.status, connection.last_error, connection.last_checked_at = status, error[:2000], now
