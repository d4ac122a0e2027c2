"""'Export transactions' is what every transaction export needs (issue 8 §3): searching is not enough,
on the page (the link too) and through the API."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.access.perms import BUILTIN_ROLES, Perm
from kontor.access.services import create_api_key
from tests.world import ROLE_SLUGS

pytestmark = pytest.mark.django_db

EXPORT = reverse("messaging:export")
LIST = reverse("messaging:transactions")
ALL = ["master", *ROLE_SLUGS]


def _exports(slug: str) -> bool:
    return Perm.EXPORT_TRANSACTIONS in BUILTIN_ROLES[slug][2]


def test_the_world_has_searchers_without_export():
    searchers = [s for s in ALL if Perm.SEARCH_TRANSACTIONS in BUILTIN_ROLES[s][2]]
    assert {"technician", "sender", "read_only"} <= set(searchers)
    assert not any(_exports(s) for s in ("technician", "sender", "read_only", "support"))


@pytest.mark.parametrize("slug", ALL)
def test_web_export_and_its_link(client, world, slug):
    client.force_login(world.acme.user(slug))
    response = client.get(EXPORT)
    if _exports(slug):
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    else:
        assert response.status_code == 403
    listing = client.get(LIST, {"mobile": "+46701234567"})
    if listing.status_code == 200:
        assert (EXPORT in listing.content.decode()) is _exports(slug)


def _key(client, world, perms):
    issued = create_api_key(world.acme.account, actor=world.acme.master, name="Export probe", perms=perms)
    return client.get("/api/v1/messages/export.csv", HTTP_AUTHORIZATION=f"Bearer {issued.secret}")


def test_api_export_needs_the_export_permission(client, world):
    refused = _key(client, world, ["search_transactions"])
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("application/problem+json")
    assert refused.json()["code"] == "permission_denied"
    allowed = _key(client, world, ["search_transactions", "export_transactions"])
    assert allowed.status_code == 200 and allowed["Content-Type"].startswith("text/csv")


def test_export_alone_does_not_search_beyond_a_mobile_number(client, world):
    # Export without any search permission would bypass the search rules: refused.
    assert _key(client, world, ["export_transactions"]).status_code == 403


@pytest.mark.parametrize("slug", ALL)
def test_api_export_with_the_session(client, world, slug):
    client.force_login(world.acme.user(slug))
    response = client.get("/api/v1/messages/export.csv", {"mobile": "+46701234567"})
    assert (response.status_code == 200) is _exports(slug), response.status_code
