"""Browser tests: AccessBridge over TLS with production cookie settings, framed by a Cobot-like page on
another site, in Debian's Chromium driven by Playwright (its own browser download is not used).

Sites: the app is https://app.localtest:<port> (Chromium maps *.localtest to 127.0.0.1), Cobot is the
stand-in at https://127.0.0.1:<port>: two sites, so the frame is third-party as inside real Cobot.
Skipped with the reason when Chromium or Playwright is missing here; .ci/run installs Chromium.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.core.servers.basehttp import ThreadedWSGIServer
from django.test.testcases import LiveServerThread

from tests.conftest import cobot_urls_point_to
from tests.fakes.tls import TLSServerMixin, self_signed_certificate, server_context
from tests.test_framed_cookies import PRODUCTION_COOKIE_SETTINGS

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
APP_HOST = "app.localtest"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--host-resolver-rules=MAP *.localtest 127.0.0.1",
    "--ignore-certificate-errors",
]


def pytest_collection_modifyitems(config, items):
    try:
        import playwright  # noqa: F401
    except ImportError:
        reason = "needs the playwright package (pip install -e '.[test]')"
    else:
        reason = None if CHROMIUM else "needs Chromium (apt-get install chromium); .ci/run installs it"
    for item in items:
        if "tests/browser/" in item.nodeid and reason:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory):
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(autouse=True)
def production_settings(settings, monkeypatch):
    for name, value in PRODUCTION_COOKIE_SETTINGS.items():
        setattr(settings, name, value)
    settings.DEBUG = False
    settings.ALLOWED_HOSTS = [APP_HOST]
    settings.LOCKS_ALLOW_PRIVATE_HOSTS = True  # the lock stand-in listens on 127.0.0.1
    # Playwright's sync API keeps an event loop in this thread; the database calls here are plain sync.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


class _HttpsWSGIServer(TLSServerMixin, ThreadedWSGIServer):
    def setup_environ(self):
        super().setup_environ()
        self.base_environ["HTTPS"] = "on"  # request.is_secure(), as behind a TLS-terminating proxy


@pytest.fixture
def app_url(transactional_db, tls_files):
    """AccessBridge served over TLS from this process (Django's live server thread, TLS added)."""
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.db import connections

    shared = {c.alias: c for c in connections.all() if c.vendor == "sqlite" and c.is_in_memory_db()}
    thread = LiveServerThread("127.0.0.1", StaticFilesHandler, connections_override=shared)
    thread.server_class = type("AppServer", (_HttpsWSGIServer,), {"tls_context": server_context(*tls_files)})
    thread.daemon = True
    for connection in shared.values():
        connection.inc_thread_sharing()
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield f"https://{APP_HOST}:{thread.port}"
    finally:
        thread.terminate()
        for connection in shared.values():
            connection.dec_thread_sharing()


@pytest.fixture
def cobot(settings, tls_files, monkeypatch):
    """The Cobot stand-in over TLS (replaces the plain one); the app's outbound session trusts its cert."""
    from accessbridge import http
    from tests.fakes.cobot import CobotFake

    monkeypatch.setattr(http.session(), "verify", str(tls_files[0]))
    with CobotFake(tls=server_context(*tls_files)) as fake:
        cobot_urls_point_to(fake, settings=settings)
        yield fake


@pytest.fixture
def chromium():
    """`with chromium(third_party_cookies=...) as context:` a fresh browser, closed at the end of the block
    (before the servers stop, so no request of it is left half-served)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:

        @contextmanager
        def launch(*, third_party_cookies: bool):
            with tempfile.TemporaryDirectory(prefix="accessbridge-chromium-") as profile:
                # A regular profile (Playwright's own contexts are incognito-like: they always block),
                # with the "third-party cookies" setting of chrome://settings/cookies.
                prefs = {"profile": {"cookie_controls_mode": 0 if third_party_cookies else 1}}
                (Path(profile) / "Default").mkdir()
                (Path(profile) / "Default" / "Preferences").write_text(json.dumps(prefs))
                context = playwright.chromium.launch_persistent_context(
                    profile, executable_path=CHROMIUM, args=CHROMIUM_ARGS, ignore_https_errors=True
                )
                try:
                    context.set_default_timeout(10_000)
                    yield context
                finally:
                    context.close()

        yield launch
