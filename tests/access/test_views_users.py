"""The users pages: scoped lists and export, add, edit, memberships, disable, and who may do what."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from kontor.access.models import Role, User
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import Membership


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _role(slug: str) -> Role:
    return Role.objects.get(customer=None, slug=slug)


def _new_user(world, **extra):
    data = {
        "first_name": "Olle",
        "last_name": "Ny",
        "email": "olle@acme.test",
        "phone": "070-123 45 67",
        "time_zone": "Europe/Stockholm",
        "primary_office": world.acme.office.pk,
        "additional_offices": [world.acme.branch.pk],
        "team": world.acme.team.pk,
        f"role_{world.acme.account.pk}": _role("sender").pk,
    }
    data.update(extra)
    return {k: v for k, v in data.items() if v is not None}


# --- list and export -----------------------------------------------------------------------------


def test_users_list_shows_only_own_customer(world):
    response = _client(world.acme.master).get(reverse("access:users"))
    assert response.status_code == 200
    body = response.content.decode()
    for user in [world.acme.master, *world.acme.users.values()]:
        assert user.email in body
    assert "globex.test" not in body
    # Even a search for the other customer finds nothing.
    response = _client(world.acme.master).get(reverse("access:users"), {"q": "globex"})
    assert "globex.test" not in response.content.decode()


def test_users_filters(world):
    client = _client(world.acme.master)
    url = reverse("access:users")
    body = client.get(url, {"q": "support"}).content.decode()
    assert "support@acme.test" in body and "sender@acme.test" not in body
    body = client.get(url, {"is_master": "true"}).content.decode()
    assert "master@acme.test" in body and "sender@acme.test" not in body
    body = client.get(url, {"office": world.acme.branch.pk}).content.decode()
    assert "office_credit_manager@acme.test" in body and "sender@acme.test" not in body
    # Account and role together mean one membership: the administrator is an administrator in the
    # "Support desk" account, the sender is not a member there at all.
    body = client.get(url, {"account": world.acme.other_account.pk, "role": _role("administrator").pk}).content.decode()
    assert "administrator@acme.test" in body and "sender@acme.test" not in body
    body = client.get(url, {"account": world.acme.other_account.pk, "role": _role("sender").pk}).content.decode()
    assert "@acme.test" not in body.split("<tbody", 1)[1]
    # A foreign office id is not a valid choice: the error shows and nothing leaks.
    response = client.get(url, {"office": world.globex.office.pk})
    assert response.status_code == 200 and "globex.test" not in response.content.decode()


def test_users_export_is_scoped_and_filtered(world):
    response = _client(world.acme.users["read_only"]).get(reverse("access:users_export"), {"team": world.acme.team.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode()
    assert "sender@acme.test" in body and "Sales: Sender" in body
    assert "master@acme.test" not in body  # not in the team
    assert "globex" not in body


@pytest.mark.parametrize("slug", ["sender", "support", "technician"])
def test_users_pages_need_view_or_manage_users(world, slug):
    client = _client(world.acme.users[slug])
    assert client.get(reverse("access:users")).status_code == 403
    assert client.get(reverse("access:users_export")).status_code == 403
    assert client.get(reverse("access:user_detail", args=[world.acme.master.pk])).status_code == 403


def test_view_only_user_cannot_add_or_change(world):
    client = _client(world.acme.users["read_only"])
    assert client.get(reverse("access:users")).status_code == 200
    assert client.get(reverse("access:user_add")).status_code == 403
    before = User.objects.count()
    assert client.post(reverse("access:user_add"), _new_user(world)).status_code == 403
    assert User.objects.count() == before
    sender = world.acme.users["sender"]
    assert client.post(reverse("access:user_disable", args=[sender.pk])).status_code == 403
    sender.refresh_from_db()
    assert sender.is_active


def test_anonymous_is_sent_to_login(client, world):
    response = client.get(reverse("access:users"))
    assert response.status_code == 302 and response["Location"].startswith("/login/")


# --- add -----------------------------------------------------------------------------------------


def test_add_user_with_role_sends_welcome(world, django_capture_on_commit_callbacks):
    client = _client(world.acme.master)
    form = client.get(reverse("access:user_add"))
    assert form.status_code == 200
    assert 'name="is_master"' in form.content.decode()  # master users may create master users
    assert form.context["form"].initial["time_zone"] == "Europe/Stockholm"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("access:user_add"), _new_user(world))
    user = User.objects.get(email="olle@acme.test")
    assert response.status_code == 302 and response["Location"] == reverse("access:user_detail", args=[user.pk])
    assert user.customer == world.acme.customer and user.phone == "+46701234567"
    assert user.primary_office == world.acme.office and list(user.additional_offices.all()) == [world.acme.branch]
    assert [(m.account, m.role.slug) for m in user.memberships.all()] == [(world.acme.account, "sender")]
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["olle@acme.test"]
    assert AuditEntry.objects.filter(action="user.create", object_id=str(user.pk)).exists()


def test_add_user_duplicate_email_shows_inline_error_and_creates_nothing(world, django_capture_on_commit_callbacks):
    before_users, before_members = User.objects.count(), Membership.objects.count()
    with django_capture_on_commit_callbacks(execute=True):
        response = _client(world.acme.master).post(
            reverse("access:user_add"), _new_user(world, email="SENDER@acme.test")
        )
    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["email"][0]
    assert User.objects.count() == before_users and Membership.objects.count() == before_members
    assert mail.outbox == []


def test_add_user_bad_phone_and_foreign_office_are_inline_errors(world):
    before = User.objects.count()
    response = _client(world.acme.master).post(
        reverse("access:user_add"), _new_user(world, phone="12", primary_office=world.globex.office.pk)
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "primary_office" in errors  # a foreign office is not even a choice
    assert User.objects.count() == before


def test_non_master_cannot_create_a_master_user(world):
    admin = world.acme.users["administrator"]
    client = _client(admin)
    assert 'name="is_master"' not in client.get(reverse("access:user_add")).content.decode()
    response = client.post(reverse("access:user_add"), _new_user(world, is_master="on"))
    assert response.status_code == 302
    assert User.objects.get(email="olle@acme.test").is_master is False


def test_role_choices_exclude_master_and_roles_beyond_actor(world):
    client = _client(world.acme.users["administrator"])
    form = client.get(reverse("access:user_add")).context["form"]
    roles = set(form.fields[f"role_{world.acme.account.pk}"].queryset.values_list("slug", flat=True))
    assert "master" not in roles and "sender" in roles
    # The credit manager cannot manage users at all; the administrator cannot grant in accounts
    # they lack; a forged role id outside the choices is refused inline.
    before = User.objects.count()
    response = client.post(
        reverse("access:user_add"), _new_user(world, **{f"role_{world.acme.account.pk}": _role("master").pk})
    )
    assert response.status_code == 200 and User.objects.count() == before


# --- detail, edit, foreign ids -------------------------------------------------------------------


def test_user_detail_and_edit(world):
    sender = world.acme.users["sender"]
    client = _client(world.acme.master)
    detail = client.get(reverse("access:user_detail", args=[sender.pk]))
    assert detail.status_code == 200 and sender.email in detail.content.decode()
    response = client.post(
        reverse("access:user_edit", args=[sender.pk]),
        {"first_name": "Sven", "last_name": "Sändare", "email": sender.email, "phone": "", "time_zone": "UTC"},
    )
    assert response.status_code == 302
    sender.refresh_from_db()
    assert (sender.first_name, sender.time_zone) == ("Sven", "UTC")
    assert AuditEntry.objects.filter(action="user.update", object_id=str(sender.pk)).exists()


def test_edit_bad_input_changes_nothing(world):
    sender = world.acme.users["sender"]
    response = _client(world.acme.master).post(
        reverse("access:user_edit", args=[sender.pk]),
        {"first_name": "", "last_name": "X", "email": world.acme.master.email, "time_zone": "Mars/Base"},
    )
    assert response.status_code == 200
    assert {"first_name", "time_zone"} <= set(response.context["form"].errors)
    sender.refresh_from_db()
    assert sender.first_name == "Sender" and sender.last_name == "Acme"


def test_edit_duplicate_email_is_inline(world):
    sender = world.acme.users["sender"]
    response = _client(world.acme.master).post(
        reverse("access:user_edit", args=[sender.pk]),
        {"first_name": "S", "last_name": "A", "email": world.acme.master.email, "time_zone": "UTC"},
    )
    assert response.status_code == 200 and "email" in response.context["form"].errors
    sender.refresh_from_db()
    assert sender.email == "sender@acme.test"


def test_foreign_user_is_404_everywhere(world):
    foreign = world.globex.users["sender"]
    client = _client(world.acme.master)
    membership = foreign.memberships.get()
    for name, args in [
        ("access:user_detail", [foreign.pk]),
        ("access:user_edit", [foreign.pk]),
        ("access:user_disable", [foreign.pk]),
        ("access:user_enable", [foreign.pk]),
        ("access:membership_remove", [foreign.pk, membership.pk]),
    ]:
        assert client.get(reverse(name, args=args)).status_code == 404, name
        assert client.post(reverse(name, args=args), {"first_name": "Hacked"}).status_code == 404, name
    for name, args in [
        ("access:user_resend_welcome", [foreign.pk]),
        ("access:membership_add", [foreign.pk]),
        ("access:membership_role", [foreign.pk, membership.pk]),
    ]:
        assert client.post(reverse(name, args=args), {"role": _role("read_only").pk}).status_code == 404, name
    # A foreign membership id under an own user is 404 too.
    own = world.acme.users["sender"]
    assert client.post(reverse("access:membership_remove", args=[own.pk, membership.pk])).status_code == 404
    foreign.refresh_from_db()
    assert foreign.is_active and foreign.first_name != "Hacked"
    assert foreign.memberships.get().role.slug == "sender"
    assert client.get(reverse("access:user_detail", args=[999999])).status_code == 404


def test_non_master_cannot_change_a_master_user(world):
    client = _client(world.acme.users["administrator"])
    master = world.acme.master
    assert client.get(reverse("access:user_edit", args=[master.pk])).status_code == 403
    assert client.post(reverse("access:user_disable", args=[master.pk])).status_code == 403
    master.refresh_from_db()
    assert master.is_active


# --- memberships, disable, welcome ---------------------------------------------------------------


def test_change_role_and_remove_membership(world):
    sender = world.acme.users["sender"]
    membership = sender.memberships.get()
    client = _client(world.acme.master)
    response = client.post(
        reverse("access:membership_role", args=[sender.pk, membership.pk]),
        {f"m{membership.pk}-role": _role("read_only").pk},
    )
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role.slug == "read_only"
    assert client.get(reverse("access:membership_remove", args=[sender.pk, membership.pk])).status_code == 200
    assert Membership.objects.filter(pk=membership.pk).exists()  # GET only asks
    client.post(reverse("access:membership_remove", args=[sender.pk, membership.pk]))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert AuditEntry.objects.filter(action="membership.delete").exists()
    client.post(
        reverse("access:membership_add", args=[sender.pk]),
        {"account": world.acme.other_account.pk, "role": _role("support").pk},
    )
    assert sender.memberships.get().account == world.acme.other_account


def test_membership_add_refuses_foreign_account(world):
    sender = world.acme.users["sender"]
    _client(world.acme.master).post(
        reverse("access:membership_add", args=[sender.pk]),
        {"account": world.globex.account.pk, "role": _role("support").pk},
    )
    assert [m.account for m in sender.memberships.all()] == [world.acme.account]


def test_disable_asks_then_disables_and_enables(world):
    sender = world.acme.users["sender"]
    client = _client(world.acme.master)
    confirm = client.get(reverse("access:user_disable", args=[sender.pk]))
    assert confirm.status_code == 200 and b"Disable" in confirm.content
    sender.refresh_from_db()
    assert sender.is_active
    client.post(reverse("access:user_disable", args=[sender.pk]))
    sender.refresh_from_db()
    assert not sender.is_active
    client.post(reverse("access:user_enable", args=[sender.pk]))
    sender.refresh_from_db()
    assert sender.is_active


def test_cannot_disable_yourself(world):
    master = world.acme.master
    response = _client(master).post(reverse("access:user_disable", args=[master.pk]), follow=True)
    assert b"cannot disable yourself" in response.content
    master.refresh_from_db()
    assert master.is_active


def test_resend_welcome_only_until_completed(world, django_capture_on_commit_callbacks):
    client = _client(world.acme.master)
    completed = world.acme.users["sender"]
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("access:user_resend_welcome", args=[completed.pk]), follow=True)
    assert b"already completed" in response.content and mail.outbox == []
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("access:user_add"), _new_user(world))
    fresh = User.objects.get(email="olle@acme.test")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("access:user_resend_welcome", args=[fresh.pk]))
    assert [m.to for m in mail.outbox] == [["olle@acme.test"], ["olle@acme.test"]]


# --- profile -------------------------------------------------------------------------------------


def test_profile_shows_and_edits_own_data(world):
    user = world.acme.users["administrator"]
    client = _client(user)
    page = client.get(reverse("access:profile")).content.decode()
    assert "Support desk" in page and "Administrator" in page and world.acme.office.name in page
    response = client.post(
        reverse("access:profile"),
        {"first_name": "Ada", "last_name": "Admin", "phone": "+46701234567", "time_zone": "Europe/Oslo"},
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert (user.first_name, user.phone, user.time_zone) == ("Ada", "+46701234567", "Europe/Oslo")
    bad = client.post(
        reverse("access:profile"), {"first_name": "Ada", "last_name": "A", "phone": "12", "time_zone": "UTC"}
    )
    assert bad.status_code == 200 and "phone" in bad.context["form"].errors


def test_staff_profile_shows_staff_role(world):
    page = _client(world.staff["csr"]).get(reverse("access:profile"))
    assert page.status_code == 200 and b"Customer service (CSR)" in page.content
