"""Features of a space's Cobot connection that do not work right now, in one place.

One mechanism for every way a part can fail on its own while the rest keeps working: a sync part
Cobot refused or lacks (a 404 for a list, a 5xx), a scope the token lacks (a 403, or Cobot's token
inspection says so), something disconnect could not remove at Cobot. Written by connect, the full sync
and disconnect (`feature_outcomes_record`); cleared when the part works again; listed on the overview.
Features and their scopes: spaces.cobot.features.
"""

from accessbridge.http import ServiceError
from spaces.cobot.features import FEATURES, FEATURES_BY_KEY, feature_missing_scope
from spaces.mirror import EVENT_FEATURES
from spaces.models import FeatureProblem, Space

SCOPE_ACTION = "sign in with Cobot again to grant it"


def feature_problem_record(*, space: Space, feature: str, error, action_url: str = "") -> FeatureProblem:
    """Record (or update) why `feature` does not work. A 403 names the scope the token lacks."""
    missing = _scope_refused(space, feature) if isinstance(error, ServiceError) and error.status == 403 else ""
    problem, _ = FeatureProblem.objects.update_or_create(
        space=space,
        feature=feature,
        defaults={"missing_scope": missing, "error": str(error)[:2000], "action_url": action_url[:500]},
    )
    return problem


def feature_problem_clear(*, space: Space, feature: str) -> None:
    FeatureProblem.objects.filter(space=space, feature=feature).delete()


def feature_outcomes_record(*, space: Space, outcomes: dict[str, ServiceError | None]) -> None:
    """The parts that ran: None worked (its problem goes), an error is recorded."""
    for feature, error in outcomes.items():
        if error is None:
            feature_problem_clear(space=space, feature=feature)
        else:
            feature_problem_record(space=space, feature=feature, error=error)


def feature_problems_reset(*, space: Space, granted: set[str] | None) -> None:
    """A new token: what the old one could not do is forgotten; what Cobot says this one lacks is recorded."""
    FeatureProblem.objects.filter(space=space).delete()
    if granted is None:  # Cobot's token inspection did not answer: the calls themselves will tell
        return
    for feature in FEATURES:
        if scope := feature_missing_scope(feature, granted):
            FeatureProblem.objects.create(
                space=space,
                feature=feature.key,
                missing_scope=scope,
                error=f"Cobot says the token lacks the scope {scope}.",
            )


def features_lacking_scope(*, space: Space) -> set[str]:
    """Features the space's token cannot use (a scope it lacks): their webhooks would only fail."""
    return set(space.feature_problems.exclude(missing_scope="").values_list("feature", flat=True))


def feature_problems_list(*, space: Space) -> list[dict]:
    """For the overview: each problem with the feature's label and what to do about it."""
    rows = []
    for problem in FeatureProblem.objects.filter(space=space):
        feature = FEATURES_BY_KEY.get(problem.feature)
        rows.append(
            {
                "label": feature.label if feature else problem.feature,
                "enables": feature.enables if feature else "",
                "scopes": problem.missing_scope.split(),
                "problem": problem,
            }
        )
    return rows


def subscriptions_overview(*, space: Space) -> list[dict]:
    """Our webhook subscriptions, each refused one with what the full sync brings in its place."""
    rows = []
    for subscription in space.subscriptions.order_by("event"):
        feature = FEATURES_BY_KEY.get(EVENT_FEATURES.get(subscription.event, ""))
        rows.append({"subscription": subscription, "feature": feature})
    return rows


def _scope_refused(space: Space, feature: str) -> str:
    """Which scope a 403 is about: the one the token is known to lack, else the feature's scopes."""
    declared = FEATURES_BY_KEY.get(feature)
    if declared is None:
        return ""
    granted = set(space.token_scopes.split())
    if granted and (scope := feature_missing_scope(declared, granted)):
        return scope
    return " ".join(declared.scopes)
