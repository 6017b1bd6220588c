"""allauth provider "Sign in with Cobot" (after allauth's gitlab provider)."""

from allauth.account.models import EmailAddress
from allauth.socialaccount.providers.base import ProviderAccount
from allauth.socialaccount.providers.oauth2.provider import OAuth2Provider
from django.conf import settings

from spaces.cobot.accounts import MEMBER_PURPOSE, PROVIDER_ID, PURPOSE_STATE_KEY
from spaces.cobot.features import MEMBER_SCOPES
from spaces.cobot.views import CobotOAuth2Adapter


class CobotAccount(ProviderAccount):
    def to_str(self):
        return self.account.extra_data.get("email") or super().to_str()


class CobotProvider(OAuth2Provider):
    id = PROVIDER_ID
    name = "Cobot"
    account_class = CobotAccount
    oauth2_adapter_class = CobotOAuth2Adapter
    pkce_enabled_default = True

    def get_default_scope(self):
        # Admins sign in to connect spaces: the space-bound token inherits exactly these scopes.
        return list(settings.COBOT_SCOPES)

    def get_scope_from_request(self, request):
        # A member signing in to a framed member page is only identified, never given admin scopes.
        if request.GET.get(PURPOSE_STATE_KEY) == MEMBER_PURPOSE:
            return list(MEMBER_SCOPES)
        return super().get_scope_from_request(request)

    def get_redirect_from_request_kwargs(self, request):
        kwargs = super().get_redirect_from_request_kwargs(request)
        if request.GET.get(PURPOSE_STATE_KEY) == MEMBER_PURPOSE:
            # Stashed in allauth's state: the callback then knows not to store this token.
            kwargs[PURPOSE_STATE_KEY] = MEMBER_PURPOSE
        return kwargs

    def extract_uid(self, data):
        return str(data["id"])

    def extract_common_fields(self, data):
        return {"email": data.get("email"), "name": data.get("name")}

    def extract_email_addresses(self, data):
        # Cobot does not say whether the address is verified: allauth's own rules decide.
        email = data.get("email")
        return [EmailAddress(email=email, verified=False, primary=True)] if email else []


provider_classes = [CobotProvider]
