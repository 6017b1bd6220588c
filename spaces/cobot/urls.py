from allauth.socialaccount.providers.oauth2.urls import default_urlpatterns

from spaces.cobot.provider import CobotProvider

urlpatterns = default_urlpatterns(CobotProvider)
