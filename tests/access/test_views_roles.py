"""Roles and API key pages."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from kontor.access.models import ApiKey, Role
from kontor.access.services import authenticate_api_key
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Membership


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _builtin(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


# --- roles ---------------------------------------------------------------------------------------


def test_roles_page_lists_builtin_and_own_custom_roles(world):
    Role.objects.create(customer=world.globex.customer, name="Globex secret role", perms=["send_sms"])
    Role.objects.create(customer=world.acme.customer, name="Acme campaigners", perms=["send_sms"])
    response = _client(world.acme.master).get(reverse("access:roles"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Read-only" in body and "Search transactions by mobile number" in body
    assert "Acme campaigners" in body and "Globex secret role" not in body


@pytest.mark.parametrize("slug", ["sender", "support", "read_only", "technician"])
def test_roles_pages_need_manage_roles(world, slug):
    client = _client(world.acme.users[slug])
    role = Role.objects.create(customer=world.acme.customer, name="Mine", perms=["send_sms"])
    assert client.get(reverse("access:roles")).status_code == 403
    assert client.post(reverse("access:role_add"), {"name": "X", "perms": ["send_sms"]}).status_code == 403
    assert client.post(reverse("access:role_delete", args=[role.pk])).status_code == 403
    assert Role.objects.filter(pk=role.pk).exists() and not Role.objects.filter(name="X").exists()


def test_role_create_edit_delete(world):
    client = _client(world.acme.users["administrator"])
    assert client.get(reverse("access:role_add")).status_code == 200
    response = client.post(
        reverse("access:role_add"),
        {"name": "Campaigners", "description": "Send only", "perms": ["send_sms", "view_contacts"]},
    )
    assert response.status_code == 302
    role = Role.objects.get(customer=world.acme.customer, name="Campaigners")
    assert sorted(role.perms) == ["send_sms", "view_contacts"]
    assert AuditEntry.objects.filter(action="role.create", object_id=str(role.pk)).exists()

    edit = client.get(reverse("access:role_edit", args=[role.pk]))
    assert edit.status_code == 200 and b'value="send_sms" id="perm-send_sms" checked' in edit.content
    client.post(reverse("access:role_edit", args=[role.pk]), {"name": "Campaign team", "perms": ["send_sms"]})
    role.refresh_from_db()
    assert role.name == "Campaign team" and role.perms == ["send_sms"]

    assert client.get(reverse("access:role_delete", args=[role.pk])).status_code == 200
    assert Role.objects.filter(pk=role.pk).exists()
    client.post(reverse("access:role_delete", args=[role.pk]))
    assert not Role.objects.filter(pk=role.pk).exists()
    assert AuditEntry.objects.filter(action="role.delete", object_id=str(role.pk)).exists()


def test_role_bad_input_is_inline_and_changes_nothing(world):
    client = _client(world.acme.master)
    before = Role.objects.count()
    no_perms = client.post(reverse("access:role_add"), {"name": "Empty"})
    assert no_perms.status_code == 200 and no_perms.context["form"].errors["perms"]
    builtin_name = client.post(reverse("access:role_add"), {"name": "sender", "perms": ["send_sms"]})
    assert builtin_name.status_code == 200 and builtin_name.context["form"].errors["name"]
    bogus = client.post(reverse("access:role_add"), {"name": "Bogus", "perms": ["staff.manage_staff"]})
    assert bogus.status_code == 200 and bogus.context["form"].errors["perms"]
    Role.objects.create(customer=world.acme.customer, name="Taken", perms=["send_sms"])
    dup = client.post(reverse("access:role_add"), {"name": "TAKEN", "perms": ["send_sms"]})
    assert dup.status_code == 200 and dup.context["form"].errors["name"]
    assert Role.objects.count() == before + 1


def test_role_in_use_cannot_be_deleted(world):
    role = Role.objects.create(customer=world.acme.customer, name="Busy", perms=["send_sms"])
    Membership.objects.filter(user=world.acme.users["sender"]).update(role=role)
    response = _client(world.acme.master).post(reverse("access:role_delete", args=[role.pk]), follow=True)
    assert response.status_code == 200
    assert "was not deleted" in response.content.decode() and "membership" in response.content.decode()
    assert Role.objects.filter(pk=role.pk).exists()


def test_builtin_roles_are_read_only_but_can_be_copied(world):
    client = _client(world.acme.master)
    sender = _builtin("sender")
    assert client.get(reverse("access:role_edit", args=[sender.pk])).status_code == 403
    assert client.post(reverse("access:role_delete", args=[sender.pk])).status_code == 403
    copy = client.get(reverse("access:role_add"), {"copy": sender.pk})
    assert copy.status_code == 200
    form = copy.context["form"]
    assert form.initial["name"] == "Copy of Sender"
    assert set(form.initial["perms"]) == {p.value for p in sender.perm_set}
    sender.refresh_from_db()
    assert sender.name == "Sender"


def test_foreign_role_is_404(world):
    foreign = Role.objects.create(customer=world.globex.customer, name="Theirs", perms=["send_sms"])
    client = _client(world.acme.master)
    assert client.get(reverse("access:role_edit", args=[foreign.pk])).status_code == 404
    assert (
        client.post(reverse("access:role_edit", args=[foreign.pk]), {"name": "Mine", "perms": ["send_sms"]}).status_code
        == 404
    )
    assert client.post(reverse("access:role_delete", args=[foreign.pk])).status_code == 404
    assert client.get(reverse("access:role_add"), {"copy": foreign.pk}).status_code == 404
    assert client.get(reverse("access:role_add"), {"copy": "junk"}).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Theirs"


# --- API keys ------------------------------------------------------------------------------------


def test_api_key_created_shows_secret_once_and_authenticates(world):
    tech = world.acme.users["technician"]
    client = _client(tech)
    form = client.get(reverse("access:api_key_add"))
    offered = {value for value, _ in form.context["form"].fields["perms"].choices}
    assert offered == {p.value for p in _builtin("technician").perm_set}
    response = client.post(reverse("access:api_key_add"), {"name": "CRM", "perms": ["technical_settings"]})
    assert response.status_code == 200
    secret = response.context["secret"]
    assert secret.startswith("kon_") and secret in response.content.decode()
    assert b"will not be shown again" in response.content
    assert "no-store" in response.get("Cache-Control", "") or "no-cache" in response.get("Cache-Control", "")
    key = authenticate_api_key(secret)
    assert key is not None and key.name == "CRM" and key.account == world.acme.account
    assert key.perms == ["technical_settings"] and key.created_by == tech
    assert key.key_hash != secret
    # Listed afterwards, but never with the secret again.
    listing = client.get(reverse("access:api_keys"))
    assert "CRM" in listing.content.decode() and secret not in listing.content.decode()
    assert secret.split("_", 2)[2] not in listing.content.decode()

    assert client.get(reverse("access:api_key_revoke", args=[key.pk])).status_code == 200
    assert authenticate_api_key(secret) is not None  # GET only asks
    client.post(reverse("access:api_key_revoke", args=[key.pk]))
    assert authenticate_api_key(secret) is None
    assert AuditEntry.objects.filter(action="api_key.revoke", object_id=str(key.pk)).exists()


def test_api_key_cannot_exceed_creators_permissions(world):
    client = _client(world.acme.users["technician"])
    before = ApiKey.objects.count()
    response = client.post(reverse("access:api_key_add"), {"name": "Too much", "perms": ["manage_users"]})
    assert response.status_code == 200 and response.context["form"].errors["perms"]
    empty = client.post(reverse("access:api_key_add"), {"name": "Nothing"})
    assert empty.status_code == 200 and empty.context["form"].errors["perms"]
    nameless = client.post(reverse("access:api_key_add"), {"name": " ", "perms": ["technical_settings"]})
    assert nameless.status_code == 200 and nameless.context["form"].errors["name"]
    assert ApiKey.objects.count() == before


def test_api_keys_are_per_account(world):
    admin = world.acme.users["administrator"]
    client = _client(admin)
    body = client.get(reverse("access:api_keys")).content.decode()
    assert world.acme.key.name in body and world.acme.key.prefix in body
    client.post(reverse("tenancy:switch"), {"account": world.acme.other_account.pk})
    session = client.session
    session["kontor_account_id"] = world.acme.other_account.pk
    session.save()
    body = client.get(reverse("access:api_keys")).content.decode()
    assert world.acme.key.prefix not in body
    # The Sales key cannot be revoked from the Support desk account.
    assert client.post(reverse("access:api_key_revoke", args=[world.acme.key.pk])).status_code == 404
    assert authenticate_api_key(world.acme.key_secret) is not None


def test_foreign_api_key_is_404(world):
    client = _client(world.acme.master)
    assert client.get(reverse("access:api_key_revoke", args=[world.globex.key.pk])).status_code == 404
    assert client.post(reverse("access:api_key_revoke", args=[world.globex.key.pk])).status_code == 404
    assert authenticate_api_key(world.globex.key_secret) is not None
    assert world.globex.key.prefix not in client.get(reverse("access:api_keys")).content.decode()


@pytest.mark.parametrize("slug", ["sender", "support", "read_only", "office_credit_manager"])
def test_api_key_pages_need_manage_api_keys(world, slug):
    client = _client(world.acme.users[slug])
    assert client.get(reverse("access:api_keys")).status_code == 403
    assert client.post(reverse("access:api_key_add"), {"name": "x", "perms": ["send_sms"]}).status_code == 403
    assert client.post(reverse("access:api_key_revoke", args=[world.acme.key.pk])).status_code == 403
    assert authenticate_api_key(world.acme.key_secret) is not None
