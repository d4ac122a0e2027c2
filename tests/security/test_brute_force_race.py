"""Parallel guesses cannot slip under the limit: each attempt is counted before its password is checked."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import RequestFactory

from kontor.access.login import attempt_login
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_forty_parallel_guesses_get_at_most_the_limit_of_real_checks(settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs real concurrent transactions (PostgreSQL); SQLite serialises writers")
    settings.KONTOR_LOGIN_MAX_PER_USER = 10
    UserFactory(email="victim@example.com")

    def guess(n: int) -> str:
        request = RequestFactory().post("/login/")
        request.client_ip = "198.51.100.7"
        request.COOKIES = {}
        try:
            return attempt_login(request, "victim@example.com", f"wrong-{n}").code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=8) as pool:
        codes = list(pool.map(guess, range(40)))
    assert codes.count("invalid") <= 10
    assert codes.count("throttled") >= 30
