"""Issue 8 §4.5: a Content-Security-Policy on every answer, no inline script left in the templates that it
would block, the Swagger UI page still working under it, and HSTS / HTTPS settings from the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.urls import reverse

ROOT = Path(__file__).resolve().parents[2]
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
PY_HANDLER = re.compile(r"<[a-z]+ [^>]*\bon(?:click|change|submit|input|load|error)=")
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def policy(response) -> dict[str, str]:  # type: ignore[no-untyped-def]
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


@pytest.mark.django_db
def test_pages_carry_a_strict_policy(client, world):
    response = client.get(reverse("access:login"))
    csp = policy(response)
    assert csp["default-src"] == "default-src 'self'"
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert csp["frame-ancestors"] == "frame-ancestors 'none'"
    assert csp["object-src"] == "object-src 'none'"
    client.force_login(world.acme.master)
    assert "Content-Security-Policy" in client.get("/")


def test_no_template_needs_inline_script():
    """Inline handlers and inline <script> blocks would be blocked by the policy (script-src 'self')."""
    found = []
    for path in (ROOT / "kontor").rglob("templates/**/*.html"):
        text = path.read_text()
        found += [f"{path}: inline handler" for _ in INLINE_HANDLER.finditer(text)]
        for attrs in SCRIPT_TAG.findall(text):
            if "src=" not in attrs and "application/json" not in attrs:
                found.append(f"{path}: inline <script>")
    for path in (ROOT / "kontor").rglob("*.py"):  # HTML built in Python (tables, format_html)
        if PY_HANDLER.search(path.read_text()):
            found.append(f"{path}: inline handler")
    assert not found, "\n".join(found)


@pytest.mark.django_db
def test_the_swagger_ui_page_works_under_the_policy(client, world):
    client.force_login(world.acme.master)
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    csp = policy(response)
    assert "'unsafe-inline'" not in csp["script-src"]
    html = response.content.decode()
    for attrs in SCRIPT_TAG.findall(html):  # executable scripts only from our own origin
        if "application/json" not in attrs:
            src = re.search(r'src="([^"]+)"', attrs)
            assert src and src.group(1).startswith("/static/"), attrs
    for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
        assert client.get(src).status_code == 200, src
    assert client.get("/api/v1/openapi.json").status_code == 200  # what the page fetches (connect-src 'self')


def _settings(env: dict[str, str], names: list[str]) -> dict:
    code = (
        "import json, django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'kontor.settings'); django.setup();"
        f"from django.conf import settings; print(json.dumps([getattr(settings, n) for n in {names!r}]))"
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SECURE_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, "KONTOR_DEMO": "1", "KONTOR_VAR_DIR": "/tmp/kontor-h4-headers-test", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return dict(zip(names, json.loads(result.stdout.strip().splitlines()[-1]), strict=True))


def test_hsts_and_https_come_from_the_environment():
    names = [
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_SSL_REDIRECT",
        "SECURE_PROXY_SSL_HEADER",
    ]
    default = _settings({}, names)
    assert default == {n: v for n, v in zip(names, [0, False, False, False, None], strict=True)}
    env = {
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "1",
        "SECURE_SSL_REDIRECT": "yes",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
    }
    assert _settings(env, names) == dict(
        zip(names, [31536000, True, True, True, ["HTTP_X_FORWARDED_PROTO", "https"]], strict=True)
    )
