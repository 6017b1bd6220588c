"""OAuth2 adapter of "Sign in with Cobot". URLs come from the Cobot settings (a stand-in can replace them).

Both outbound calls (token exchange, profile) go through accessbridge.http like every other call;
any failure becomes allauth's OAuth2Error, which allauth shows on its sign-in error page.
"""

from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView

from accessbridge.http import ServiceError, http_request
from spaces.cobot import client
from spaces.cobot.accounts import PROVIDER_ID
from spaces.models import Space


class CobotOAuth2Client(OAuth2Client):
    def get_access_token(self, code, pkce_code_verifier=None, extra_data=None):
        # POST {site}/oauth/access_token (form: client_id, client_secret, grant_type, code, code_verifier)
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.callback_url,
            "client_id": self.consumer_key,
            "client_secret": self.consumer_secret,
            **(extra_data or {}),
        }
        if pkce_code_verifier:
            data["code_verifier"] = pkce_code_verifier
        try:
            response = http_request(
                "POST", self.access_token_url, service=client.SERVICE, data=data, headers={"Accept": "application/json"}
            )
            token = response.json()
        except ServiceError as exc:
            raise OAuth2Error(f"Cobot did not issue a token: {exc.message}") from None
        except ValueError:
            raise OAuth2Error("Cobot answered the token request with something other than JSON.") from None
        if not isinstance(token, dict) or "error" in token or not token.get("access_token"):
            detail = (token.get("error_description") or token.get("error")) if isinstance(token, dict) else None
            raise OAuth2Error(f"Cobot did not issue a token: {detail or 'no access_token in the answer'}")
        return token


class CobotOAuth2Adapter(OAuth2Adapter):
    provider_id = PROVIDER_ID
    client_class = CobotOAuth2Client

    @property
    def access_token_url(self):
        return client.site_url("oauth/access_token")

    @property
    def authorize_url(self):
        # Framed pages sign members in through their space's own authorize page (cobot-api.md).
        subdomain = self.request.GET.get("cobot_subdomain", "")
        if client.subdomain_is_valid(subdomain):
            if Space.objects.filter(subdomain=subdomain).exclude(status=Space.Status.DISCONNECTED).exists():
                return f"{client.space_base_url(subdomain)}/oauth/authorize"
        return client.site_url("oauth/authorize")

    def complete_login(self, request, app, token, **kwargs):
        try:
            profile = client.user_get(token=token.token)
        except ServiceError as exc:
            raise OAuth2Error(f"Cobot did not tell who you are: {exc.message}") from None
        return self.get_provider().sociallogin_from_response(request, profile)


oauth2_login = OAuth2LoginView.adapter_view(CobotOAuth2Adapter)
oauth2_callback = OAuth2CallbackView.adapter_view(CobotOAuth2Adapter)
