from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from accessbridge.tenancy import administered_spaces, space_for_admin_or_404


@login_required
def dashboard(request):
    spaces = administered_spaces(request.user).order_by("name", "subdomain")
    return render(request, "spaces/dashboard.html", {"spaces": spaces})


@login_required
def space_detail(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    return render(request, "spaces/space_detail.html", {"space": space})
