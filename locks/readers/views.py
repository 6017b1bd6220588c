"""Dashboard pages for card readers: add one (its key shown once), rotate or revoke its key."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from accessbridge.tenancy import for_admin_or_404, space_for_admin_or_404
from locks.models import Reader
from locks.readers.forms import ReaderForm
from locks.readers.keys import reader_create, reader_key_issue, reader_key_revoke


def _reader(request, subdomain, reader_id) -> Reader:
    return for_admin_or_404(
        Reader.objects.select_related("space", "door"), request.user, pk=reader_id, space__subdomain=subdomain
    )


def _readers_page(request, space, *, form, revealed: tuple[Reader, str] | None = None):
    context = {
        "space": space,
        "readers": Reader.objects.filter(space=space).select_related("door").order_by("name"),
        "form": form,
        "revealed": revealed,
        "api_docs_url": reverse("reader_api_docs"),
    }
    return render(request, "locks/readers.html", context)


@login_required
def readers(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    form = ReaderForm(space=space, data=request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        reader, key = reader_create(
            door=form.cleaned_data["door"],
            name=form.cleaned_data["name"],
            answer_seconds=form.cleaned_data["answer_seconds"],
        )
        # The key is rendered in this answer only (never stored readable): no redirect that would lose it.
        return _readers_page(request, space, form=ReaderForm(space=space), revealed=(reader, key))
    return _readers_page(request, space, form=form)


@login_required
@require_POST
def reader_key_rotate(request, subdomain, reader_id):
    reader = _reader(request, subdomain, reader_id)
    key = reader_key_issue(reader=reader)
    return _readers_page(request, reader.space, form=ReaderForm(space=reader.space), revealed=(reader, key))


@login_required
@require_POST
def reader_key_revoke_view(request, subdomain, reader_id):
    reader = _reader(request, subdomain, reader_id)
    reader_key_revoke(reader=reader)
    messages.success(request, f"The key of {reader.name} is revoked: it is refused from now on.")
    return redirect("readers", subdomain=subdomain)
