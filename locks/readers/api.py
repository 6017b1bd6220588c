"""The reader API (device makers' page /api/readers/docs/, schema locks/readers/openapi.json).

A reader authenticates with its own key (`Authorization: Bearer …`); a wrong, revoked or foreign key is a
401 before anything else, the same answer for a reader that does not exist. Bodies are read strictly
(accessbridge.webhooks)."""

from __future__ import annotations

import json
from pathlib import Path

from django.db import transaction
from django.http import HttpResponse, HttpResponseNotModified, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from accessbridge.webhooks import WebhookError, WebhookView, json_body
from locks.models import Reader
from locks.readers.allowlist import allowlist_csv, allowlist_etag, allowlist_json, reader_allowlist
from locks.readers.keys import bearer_key, reader_key_matches
from locks.readers.live import reader_checkin, token_problem

MAX_READER_BODY_BYTES = 4 * 1024


def reader_authenticate(request, reader_id: int) -> Reader:
    reader = (
        Reader.objects.select_related("space", "door__connection__space").filter(pk=reader_id).first()
    )
    if not reader_key_matches(reader=reader, key=bearer_key(request.headers.get("Authorization", ""))):
        raise WebhookError("invalid or revoked reader key", status=401)
    return reader


class ReaderCheckInView(WebhookView):
    max_body_bytes = MAX_READER_BODY_BYTES

    def authenticate(self, request, *, reader_id, **kwargs):
        return reader_authenticate(request, reader_id)

    def accept(self, request, reader, **kwargs):
        token = json_body(request).get("token")
        if problem := token_problem(token):
            raise WebhookError(problem)
        return reader_checkin(reader=reader, token=token.strip()).as_json()

    def post(self, request, **kwargs):
        response = super().post(request, **kwargs)
        if response.status_code == 401:
            response["WWW-Authenticate"] = 'Bearer realm="AccessBridge readers"'
        return response


# Not inside a request transaction: the door open commits its gateway signing claim (locks.door_commands).
reader_check_in = transaction.non_atomic_requests(ReaderCheckInView.as_view())


@require_GET
def reader_allowlist_view(request, reader_id):
    try:
        reader = reader_authenticate(request, reader_id)
    except WebhookError as exc:
        response = JsonResponse({"error": str(exc)}, status=exc.status)
        response["WWW-Authenticate"] = 'Bearer realm="AccessBridge readers"'
        return response
    now = timezone.now()
    entries = reader_allowlist(reader=reader, now=now)
    as_csv = request.GET.get("format") == "csv" or "text/csv" in request.headers.get("Accept", "")
    etag = allowlist_etag(entries).rstrip('"') + ('-csv"' if as_csv else '-json"')
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        response = HttpResponseNotModified()
    elif as_csv:
        response = HttpResponse(allowlist_csv(entries), content_type="text/csv; charset=utf-8")
    else:
        response = JsonResponse(allowlist_json(reader=reader, entries=entries, now=now))
    response["ETag"], response["Cache-Control"], response["Vary"] = etag, "no-cache", "Accept"
    return response


SCHEMA_PATH = Path(__file__).with_name("openapi.json")


@require_GET
def reader_api_schema(request):
    return JsonResponse(json.loads(SCHEMA_PATH.read_text()), json_dumps_params={"indent": 2})


@require_GET
def reader_api_docs(request):
    context = {
        "base_url": f"{request.scheme}://{request.get_host()}",
        "max_body_bytes": MAX_READER_BODY_BYTES,
        "default_seconds": Reader._meta.get_field("answer_seconds").default,
    }
    return render(request, "locks/reader_api_docs.html", context)
