"""A deadlock or serialization failure that outlives the services' retries is a 503 page saying nothing
was changed, never a 500; other errors still reach Django's own handling."""

from __future__ import annotations

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from kontor.web.middleware import DomainErrorMiddleware

pytestmark = pytest.mark.django_db


class Deadlock(Exception):
    sqlstate = "40P01"


def _middleware() -> DomainErrorMiddleware:
    return DomainErrorMiddleware(lambda request: HttpResponse())


def test_a_deadlock_on_a_page_is_a_503_page():
    request = RequestFactory().post("/credits/transfer/")
    response = _middleware().process_exception(request, Deadlock("deadlock detected"))
    assert response is not None
    assert response.status_code == 503
    assert b"nothing was changed" in response.content


def test_other_errors_are_not_turned_into_pages():
    request = RequestFactory().post("/credits/transfer/")
    assert _middleware().process_exception(request, RuntimeError("boom")) is None


def test_the_api_answers_its_own_errors():
    request = RequestFactory().post("/api/v1/credits/transfers")
    assert _middleware().process_exception(request, Deadlock("deadlock detected")) is None
