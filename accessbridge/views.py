from datetime import timedelta

from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "account_login")


@never_cache
@require_GET
def health(request):
    """For load balancers and for `make run`: is the database up, can the keys read the stored secrets,
    and has the worker run lately?

    The work dispatcher is scheduled every minute, so a worker that runs leaves a recent success.
    A valid but wrong ACCESSBRIDGE_ENCRYPTION_KEYS makes every space page fail: that is a 503 here too.
    """
    from django_q.models import OrmQ, Success

    from accessbridge.fields import stored_secrets_unreadable

    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"database": "down"}, status=503)
    unreadable = stored_secrets_unreadable()
    if unreadable:
        return JsonResponse({"database": "ok", "secrets": "cannot decrypt", "tables": unreadable}, status=503)
    last = Success.objects.order_by("-stopped").values_list("stopped", flat=True).first()
    worker_ok = bool(last and last > timezone.now() - timedelta(minutes=3))
    return JsonResponse(
        {
            "database": "ok",
            "secrets": "ok",
            "worker": "ok" if worker_ok else "no task finished in the last 3 minutes",
            "last_task_finished_at": last.isoformat() if last else None,
            "queued_tasks": OrmQ.objects.count(),
        }
    )
