"""Helpers for calling the customer API as an API key or a signed-in browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from kontor.access.perms import CUSTOMER_PERMS
from kontor.access.services import create_api_key
from kontor.audit.models import AuditEntry
from tests.world import CustomerWorld

BASE = "/api/v1"
ALL_PERMS = sorted(p.value for p in CUSTOMER_PERMS)


class Api:
    """A test client speaking JSON to /api/v1 with an optional Bearer key."""

    def __init__(self, client: Client, secret: str | None = None) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {secret}"} if secret else {}

    def _url(self, path: str) -> str:
        return f"{BASE}{path}"

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.client.get(self._url(path), data=params or {}, headers=self.headers)

    def _send(self, method: str, path: str, body: Any) -> Any:
        call = getattr(self.client, method)
        if body is None:
            return call(self._url(path), headers=self.headers)
        return call(self._url(path), data=body, content_type="application/json", headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self._send("post", path, body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._send("patch", path, body)

    def put(self, path: str, body: Any = None) -> Any:
        return self._send("put", path, body)

    def delete(self, path: str) -> Any:
        return self._send("delete", path, None)


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert a problem+json answer with `status` and `code`; return its body."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    return body


def audit_count(action: str, object_id: Any = None) -> int:
    qs = AuditEntry.objects.filter(action=action)
    if object_id is not None:
        qs = qs.filter(object_id=str(object_id))
    return qs.count()


@pytest.fixture
def make_key() -> Callable[..., str]:
    """A fresh key secret for `cw`'s Sales account (or `account`), made by its master user."""

    def make(cw: CustomerWorld, *perms: str, account: Any = None) -> str:
        issued = create_api_key(account or cw.account, actor=cw.master, name="Test key", perms=list(perms) or ALL_PERMS)
        return issued.secret

    return make


@pytest.fixture
def acme(world, make_key, client) -> Api:  # type: ignore[no-untyped-def]
    """world.acme's Sales account, through a key holding every customer permission."""
    return Api(client, make_key(world.acme))


@pytest.fixture
def anon(client) -> Api:  # type: ignore[no-untyped-def]
    return Api(client)
