"""OAuth2 adapter of "Sign in with Cobot". URLs come from the Cobot settings (a stand-in can replace them).

Both outbound calls (token exchange, profile) go through accessbridge.http like every other call;
any failure becomes allauth's OAuth2Error, which allauth shows on its sign-in error page. That page
names an error Cobot redirects back with (error=invalid_scope, ...) and may be framed by Cobot.
"""

from functools import wraps

from allauth.socialaccount.helpers import render_authentication_error
from allauth.socialaccount.providers.oauth2.client import OAuth2Client, OAuth2Error
from allauth.socialaccount.providers.oauth2.views import OAuth2Adapter, OAuth2CallbackView, OAuth2LoginView
from django.conf import settings

from accessbridge.http import ServiceError, http_request
from spaces.cobot import client
from spaces.cobot.accounts import PROVIDER_ID, PURPOSE_STATE_KEY
from spaces.cobot.features import MEMBER_SCOPES
from spaces.embedded import cobot_frame_origins_any, frame_ancestors_allow
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


class CobotOAuth2CallbackView(OAuth2CallbackView):
    """allauth's callback; an error Cobot sends back instead of a code (e.g. error=invalid_scope: this
    Cobot does not know a scope we asked for) is named on the error page, with what to change."""

    def dispatch(self, request, *args, **kwargs):
        error = request.GET.get("error")
        if not error or error == self.adapter.login_cancelled_error:
            return super().dispatch(request, *args, **kwargs)
        provider = self.adapter.get_provider()
        state, answer = self._get_state(request, provider)  # a forged or stale state gets allauth's page
        if answer:
            return answer
        refused = authorize_error_describe(
            error=error, description=request.GET.get("error_description", ""), member=bool(state.get(PURPOSE_STATE_KEY))
        )
        exception = OAuth2Error(f"Cobot refused the sign-in: {refused['error']}")
        return render_authentication_error(
            request, provider, exception=exception, extra_context={"state": state, "cobot_refused": refused}
        )


def authorize_error_describe(*, error: str, description: str, member: bool) -> dict:
    """What the error page says about Cobot's answer (RFC 6749 §4.1.2.1) and the scopes we asked for."""
    return {
        "error": error[:100],
        "description": description[:500],
        "scope_error": error == "invalid_scope",
        "scopes": list(MEMBER_SCOPES if member else settings.COBOT_SCOPES),
        "setting": "" if member else "COBOT_SCOPES",
    }


def _frameable_by_cobot_when_refused(view):
    """The sign-in error page may show inside Cobot's iframe (a framed page's sign-in ends there)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        if response.status_code >= 400:
            frame_ancestors_allow(response, cobot_frame_origins_any())
        return response

    return wrapper


oauth2_login = OAuth2LoginView.adapter_view(CobotOAuth2Adapter)
oauth2_callback = _frameable_by_cobot_when_refused(CobotOAuth2CallbackView.adapter_view(CobotOAuth2Adapter))
