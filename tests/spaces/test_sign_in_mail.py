"""Sign-in never fails on mail: no confirmation mail for a Cobot sign-in, and a mail server that is down
is logged and told, never a 500 (DEBUG=false, the SMTP backend pointed at a port nobody listens on)."""

import logging
import smtplib
import socket

import pytest
import responses
from allauth.socialaccount.models import SocialAccount
from django.urls import reverse

from tests.spaces.test_provider import COBOT, PROFILE, callback, oauth, start  # noqa: F401 (oauth: fixture)


class RefusingBackend:
    """A mail backend whose server refuses every message."""

    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        raise smtplib.SMTPRecipientsRefused({"x": (550, b"no")})


@pytest.fixture
def mail_server_down(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    settings.DEBUG = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    return port


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_a_new_cobot_user_signs_in_without_a_confirmation_mail(client, oauth, mail_server_down, mailoutbox):  # noqa: F811
    _, query = start(client)
    with responses.RequestsMock() as cobot:
        cobot.post(f"{COBOT}/oauth/access_token", json={"access_token": "user-token-1", "token_type": "bearer"})
        cobot.get(f"{COBOT}/api/user", json=PROFILE)
        response = callback(client, code="the-code", state=query["state"])
    assert response.status_code == 302 and response["Location"] == reverse("dashboard")
    assert SocialAccount.objects.get(provider="cobot").user.email == "alice@cobot.example"
    assert client.get(reverse("dashboard")).status_code == 200
    assert mailoutbox == []


def test_a_sign_up_with_the_mail_server_down_is_not_a_500(client, mail_server_down, caplog, db):
    form = {"email": "dora@example.org", "password1": "a-long-pass-phrase-1", "password2": "a-long-pass-phrase-1"}
    with caplog.at_level(logging.ERROR, logger="accessbridge.account_adapter"):
        response = client.post(reverse("account_signup"), form, follow=True)
    assert response.status_code == 200
    shown = messages_of(response)
    assert any("could not send the email to dora@example.org" in m for m in shown)
    assert not any("Confirmation email sent" in m for m in shown)
    assert "Could not send the email_confirmation_signup mail: ConnectionRefusedError" in caplog.text


def test_a_password_reset_with_a_refusing_mail_backend_is_not_a_500(client, alice, settings, caplog):
    settings.DEBUG = False
    settings.EMAIL_BACKEND = f"{__name__}.RefusingBackend"
    with caplog.at_level(logging.ERROR, logger="accessbridge.account_adapter"):
        response = client.post(reverse("account_reset_password"), {"email": "alice@example.org"}, follow=True)
    assert response.status_code == 200
    assert any("could not send the email to alice@example.org (SMTPRecipientsRefused)" in m for m in messages_of(response))
    assert "SMTPRecipientsRefused" in caplog.text
