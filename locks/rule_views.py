"""Dashboard pages for access rules. Saving or deleting one shows what would change first
(locks.change_preview) and applies only on confirmation; each applied change is audited with who."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accessbridge.tenancy import for_admin_or_404, space_for_admin_or_404
from locks.audit import audit_admin_action
from locks.change_preview import change_preview
from locks.forms import AccessRuleForm
from locks.models import AccessRule
from locks.selectors import door_set_limits


@login_required
def rules(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    rule_list = AccessRule.objects.filter(space=space).select_related("plan").prefetch_related("doors")
    context = {"space": space, "rules": rule_list, "door_set_limits": door_set_limits(space=space)}
    return render(request, "locks/rules.html", context)


@login_required
def rule_add(request, subdomain):
    space = space_for_admin_or_404(request.user, subdomain=subdomain)
    return _rule_form(request, space=space, rule=AccessRule(space=space))


@login_required
def rule_edit(request, subdomain, rule_id):
    rule = for_admin_or_404(
        AccessRule.objects.select_related("space"), request.user, pk=rule_id, space__subdomain=subdomain
    )
    return _rule_form(request, space=rule.space, rule=rule)


def _rule_form(request, *, space, rule):
    """Saving shows what would change first (locks.change_preview); "Apply" (confirm) saves."""
    form = AccessRuleForm(space=space, instance=rule, data=request.POST if request.method == "POST" else None)
    context = {"space": space, "rule": rule, "form": form, "door_set_limits": door_set_limits(space=space)}
    if request.method == "POST" and form.is_valid():
        if request.POST.get("confirm") != "1":
            context["preview"] = change_preview(space=space, change=lambda: _rule_form_copy(request, space, rule).save())
            return render(request, "locks/rule_form.html", context)
        added = rule.pk is None
        form.save()  # saving a rule queues a sync of every member (locks.receivers)
        action, verb = ("rule_add", "added") if added else ("rule_change", "changed")
        audit_admin_action(space=space, actor=request.user, action=action, detail=f"rule {verb}: {rule}")
        messages.success(request, "Rule saved. Access is being brought in step.")
        return redirect("rules", subdomain=space.subdomain)
    return render(request, "locks/rule_form.html", context)


def _rule_form_copy(request, space, rule) -> AccessRuleForm:
    """The same form on a copy of the rule: the preview's rolled-back save must not touch the page's rule."""
    instance = AccessRule.objects.get(pk=rule.pk) if rule.pk else AccessRule(space=space)
    form = AccessRuleForm(space=space, instance=instance, data=request.POST)
    form.is_valid()
    return form


@login_required
@require_POST
def rule_delete(request, subdomain, rule_id):
    rule = for_admin_or_404(AccessRule.objects.all(), request.user, pk=rule_id, space__subdomain=subdomain)
    space = rule.space
    if request.POST.get("confirm") != "1":
        context = {"space": space, "rule": rule, "preview": change_preview(space=space, change=AccessRule.objects.filter(pk=rule.pk).delete)}
        return render(request, "locks/rule_delete.html", context)
    detail = f"rule deleted: {rule}"
    rule.delete()
    audit_admin_action(space=space, actor=request.user, action="rule_delete", detail=detail)
    messages.success(request, "Rule deleted. Access is being brought in step.")
    return redirect("rules", subdomain=subdomain)
