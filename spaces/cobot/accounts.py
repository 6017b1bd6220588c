"""The Cobot identity of an AccessBridge user: allauth's SocialAccount / SocialToken for "cobot".

allauth stores tokens in clear (SOCIALACCOUNT_STORE_TOKENS). Cobot user tokens are secrets like any
other here, so they are encrypted before allauth's row is saved (`socialtoken_encrypt`, connected in
SpacesConfig.ready) and decrypted only where we use them. allauth never reads a stored token back.

Only an admin sign-in's token is stored: a member signing in to a framed page gets a read_user token,
which must not replace the full-scope token an admin connects spaces with (`cobot_sign_in_received`).
"""

from allauth.socialaccount.models import SocialAccount, SocialToken
from django.db.models import Exists, OuterRef, QuerySet

from accessbridge.fields import decrypt_str, encrypt_str

PROVIDER_ID = "cobot"
# A sign-in started with ?purpose=member (framed member page) carries this in allauth's state.
PURPOSE_STATE_KEY = "purpose"
MEMBER_PURPOSE = "member"
_ENCRYPTED_PREFIX = "fernet:"


def socialtoken_encrypt(sender, instance: SocialToken, **kwargs) -> None:
    """pre_save receiver: encrypt a Cobot token (and its refresh token) once, before it reaches the database."""
    if not (instance.account_id and instance.account.provider == PROVIDER_ID):
        return
    for field in ("token", "token_secret"):
        value = getattr(instance, field)
        if value and not value.startswith(_ENCRYPTED_PREFIX):
            setattr(instance, field, _ENCRYPTED_PREFIX + encrypt_str(value))


def _decrypted(stored: str) -> str:
    if stored.startswith(_ENCRYPTED_PREFIX):
        return decrypt_str(stored.removeprefix(_ENCRYPTED_PREFIX))
    return stored  # stored before encryption was in place


def cobot_account(user) -> SocialAccount | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return SocialAccount.objects.filter(user=user, provider=PROVIDER_ID).order_by("-last_login", "-pk").first()


def cobot_user_ids(user) -> set[str]:
    if not getattr(user, "is_authenticated", False):
        return set()
    return set(SocialAccount.objects.filter(user=user, provider=PROVIDER_ID).values_list("uid", flat=True))


def cobot_user_token(user) -> str | None:
    """The user's Cobot access token from their last "Sign in with Cobot", or None."""
    account = cobot_account(user)
    if account is None:
        return None
    stored = SocialToken.objects.filter(account=account).order_by("-pk").values_list("token", flat=True).first()
    return _decrypted(stored) if stored else None


# --- the Cobot identity behind an admin role (spaces.admins) ------------------------------------------
def cobot_identity_linked(queryset: QuerySet) -> QuerySet:
    """Annotate `cobot_linked` on rows with `user` and `cobot_user_id` (SpaceAdmin): True when that user
    signed in with that Cobot account and its token is stored, so Cobot can be asked about them."""
    tokens = SocialToken.objects.filter(
        account__provider=PROVIDER_ID, account__user=OuterRef("user"), account__uid=OuterRef("cobot_user_id")
    )
    return queryset.annotate(cobot_linked=Exists(tokens))


def cobot_identity_token(*, user_id: int, uid: str) -> str | None:
    """The stored token of the user's Cobot account `uid`, or None."""
    stored = (
        SocialToken.objects.filter(account__provider=PROVIDER_ID, account__user_id=user_id, account__uid=uid)
        .order_by("-pk")
        .values_list("token", flat=True)
        .first()
    )
    return _decrypted(stored) if stored else None


def cobot_identity_profile_store(*, user_id: int, uid: str, profile: dict) -> None:
    """Keep /api/user's fresh answer, as a sign-in would: the dashboard's list of Cobot spaces follows it."""
    SocialAccount.objects.filter(provider=PROVIDER_ID, user_id=user_id, uid=uid).update(extra_data=profile)


def cobot_spaces_administered(user) -> list[dict]:
    """The spaces the user administers at Cobot, as /api/user said at their last sign-in."""
    account = cobot_account(user)
    entries = (account.extra_data or {}).get("admin_of") if account else None
    spaces = []
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("space_subdomain"):
            spaces.append(
                {"subdomain": str(entry["space_subdomain"]), "name": str(entry.get("space_name") or entry["space_subdomain"])}
            )
    return spaces


def cobot_sign_in_received(sender, request, sociallogin, **kwargs) -> None:
    """Receiver of allauth's social_account_updated / social_account_added / pre_social_login.

    For a member sign-in (scope read_user only) the token is dropped before allauth stores it. (The
    same signals prune the user's admin roles: spaces.admins.admin_roles_after_sign_in.)
    """
    account = sociallogin.account
    if account.provider != PROVIDER_ID:
        return
    if (sociallogin.state or {}).get(PURPOSE_STATE_KEY) == MEMBER_PURPOSE:
        sociallogin.token = None
