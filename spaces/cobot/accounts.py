"""The Cobot identity of an AccessBridge user: allauth's SocialAccount / SocialToken for "cobot".

allauth stores tokens in clear (SOCIALACCOUNT_STORE_TOKENS). Cobot user tokens are secrets like any
other here, so they are encrypted before allauth's row is saved (`socialtoken_encrypt`, connected in
SpacesConfig.ready) and decrypted only where we use them. allauth never reads a stored token back.
"""

from allauth.socialaccount.models import SocialAccount, SocialToken

from accessbridge.fields import decrypt_str, encrypt_str

PROVIDER_ID = "cobot"
_ENCRYPTED_PREFIX = "fernet:"


def socialtoken_encrypt(sender, instance: SocialToken, **kwargs) -> None:
    """pre_save receiver: encrypt a Cobot token once, before it reaches the database."""
    if instance.account_id and instance.account.provider == PROVIDER_ID and instance.token:
        if not instance.token.startswith(_ENCRYPTED_PREFIX):
            instance.token = _ENCRYPTED_PREFIX + encrypt_str(instance.token)


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
    if not stored:
        return None
    if stored.startswith(_ENCRYPTED_PREFIX):
        return decrypt_str(stored.removeprefix(_ENCRYPTED_PREFIX))
    return stored  # stored before encryption was in place


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
