"""Browser tests: pytest-playwright driving Debian's chromium against pytest-django's live server."""

from __future__ import annotations

import os
import shutil

import pytest

# Playwright's sync API runs an event loop in this thread; the ORM calls the tests make around it are
# still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = os.environ.get("KONTOR_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CHROMIUM:
        return
    if os.environ.get("KONTOR_REQUIRE_BROWSER") == "1":
        raise pytest.UsageError("KONTOR_REQUIRE_BROWSER=1 but no chromium was found: apt-get install chromium")
    skip = pytest.mark.skip(reason="no chromium found (apt-get install chromium); browser tests skipped")
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture
def site(live_server, settings):  # type: ignore[no-untyped-def]
    """The live server's base URL, with mail kept in memory so tests can open welcome links."""
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.KONTOR_BASE_URL = live_server.url
    return live_server.url
