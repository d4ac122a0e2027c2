"""Who works in an account (names, emails, roles) is user data: the account page shows its members only
to those who may see users (view_users or manage_users)."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

MEMBER_EMAILS = ["administrator@acme.test", "office_credit_manager@acme.test", "technician@acme.test"]


@pytest.mark.parametrize("slug", ["support", "sender", "technician"])
def test_members_are_hidden_from_those_who_may_not_see_users(client, world, slug):
    viewer = world.acme.users[slug]
    client.force_login(viewer)
    res = client.get(reverse("tenancy:account_detail", args=[world.acme.account.pk]))
    assert res.status_code == 200
    body = res.content.decode()
    assert 'id="members"' not in body
    for email in MEMBER_EMAILS:
        if email != viewer.email:  # their own email is in the user menu
            assert email not in body, email
    assert "Surname" in body  # the rest of the page is still there


@pytest.mark.parametrize("slug", ["read_only", "office_credit_manager", "administrator", "master"])
def test_members_are_shown_to_those_who_may_see_users(client, world, slug):
    client.force_login(world.acme.user(slug))
    body = client.get(reverse("tenancy:account_detail", args=[world.acme.account.pk])).content.decode()
    assert 'id="members"' in body
    for email in MEMBER_EMAILS:
        assert email in body
