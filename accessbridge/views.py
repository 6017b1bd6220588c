from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accessbridge.fields import stored_secrets_unreadable
from accessbridge.health import worker_health


def home(request):
    return redirect("dashboard" if request.user.is_authenticated else "account_login")


def favicon(request):
    # Browsers ask for /favicon.ico on every page that names none (admin, JSON); the file is a static one.
    return redirect(static("favicon.ico"))


@never_cache
@require_GET
def health(request):
    """For load balancers and for `make run`: is the database up, can the keys read the stored secrets,
    and is the task worker alive?

    A valid but wrong ACCESSBRIDGE_ENCRYPTION_KEYS makes every space page fail: that is a 503 here too.
    The worker's state is reported, not judged: a web node stays in service while the worker is down
    (inbound events are stored and wait for it).
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        return JsonResponse({"database": "down"}, status=503)
    unreadable = stored_secrets_unreadable()
    if unreadable:
        return JsonResponse({"database": "ok", "secrets": "cannot decrypt", "tables": unreadable}, status=503)
    return JsonResponse({"database": "ok", "secrets": "ok", **worker_health()})
