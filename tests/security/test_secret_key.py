"""Issue 8 §4.5: with SECRET_KEY unset, the public demo key was used silently outside the demo (anyone could
forge the device cookie). Now a process that serves or runs jobs refuses to start without one, unless it
is the demo (KONTOR_DEMO=1, set by `make demo` and `kontor run_demo`), DEBUG, or the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOAD = "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'kontor.settings'); django.setup()"


def start(env: dict[str, str], code: str = LOAD, argv: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "KONTOR_DEMO", "KONTOR_TESTING"}}
    clean["KONTOR_VAR_DIR"] = "/tmp/kontor-h4-secret-key-test"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, timeout=120
    )


def test_production_refuses_to_start_without_a_secret_key():
    result = start({})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    "env", [{"SECRET_KEY": "a-real-secret-key-0123456789abcdef"}, {"KONTOR_DEMO": "1"}, {"DEBUG": "1"}]
)
def test_it_starts_with_a_key_in_the_demo_or_in_debug(env):
    result = start(env, LOAD + "; from django.conf import settings; print(len(settings.SECRET_KEY))")
    assert result.returncode == 0, result.stderr


def test_the_serving_commands_refuse_but_tooling_commands_do_not():
    """`kontor migrate` and friends do not sign anything; the server and the worker do."""
    run = "import sys; sys.argv = ['kontor', *sys.argv[1:]]; from kontor.__main__ import main; main()"
    refused = start({}, run, ("worker", "--help"))
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    gunicorn = "import sys; sys.argv = ['gunicorn']; import kontor.wsgi"
    refused = start({}, gunicorn)
    assert refused.returncode != 0 and "SECRET_KEY" in refused.stderr
    assert start({"SECRET_KEY": "a-real-secret-key-0123456789abcdef"}, gunicorn).returncode == 0
    assert start({}, run, ("check",)).returncode == 0
