"""The Cobot identity of an AccessBridge user: allauth's SocialAccount / SocialToken for "cobot".

allauth stores tokens in clear (SOCIALACCOUNT_STORE_TOKENS). Cobot user tokens are secrets like any
other here, so they are encrypted before allauth's row is saved (`socialtoken_encrypt`, connected in
SpacesConfig.ready) and decrypted only where we use them. allauth never reads a stored token back.

Only an admin sign-in's token is stored: a member signing in to a framed page gets a read_user token,
which must not replace the full-scope token an admin connects spaces with (`cobot_sign_in_received`).
"""

from allauth.socialaccount.models import SocialAccount, SocialToken

from accessbridge.fields import decrypt_str, encrypt_str
from spaces.models import SpaceAdmin

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

    For a member sign-in (scope read_user only) the token is dropped before allauth stores it. And as
    /api/user was just read again, the user's admin roles in spaces the Cobot account no longer
    administers are removed.
    """
    account = sociallogin.account
    if account.provider != PROVIDER_ID:
        return
    if (sociallogin.state or {}).get(PURPOSE_STATE_KEY) == MEMBER_PURPOSE:
        sociallogin.token = None
    admin_of = (account.extra_data or {}).get("admin_of")
    user = sociallogin.user
    if isinstance(admin_of, list) and user is not None and user.pk is not None:
        administered = {str(e.get("space_subdomain")) for e in admin_of if isinstance(e, dict)}
        space_admins_prune(user=user, cobot_user_id=str(account.uid), administered=administered)


def space_admins_prune(*, user, cobot_user_id: str, administered: set[str]) -> int:
    """Remove the user's admin roles that came from this Cobot account for spaces it no longer administers.

    Roles given otherwise (no cobot_user_id, another Cobot account) are left alone; new ones are only
    ever added by connecting a space.
    """
    deleted, _ = (
        SpaceAdmin.objects.filter(user=user, cobot_user_id=cobot_user_id)
        .exclude(space__subdomain__in=administered)
        .delete()
    )
    return deleted
