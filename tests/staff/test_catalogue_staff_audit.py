"""Cost centers, the feature catalogue, staff users and the provider-wide audit log."""

from __future__ import annotations

from django.core import mail
from django.urls import reverse

from kontor.access.models import User
from kontor.audit.models import AuditEntry
from kontor.tenancy.models import CostCenter, Feature


def _login(client, user):
    client.force_login(user)
    return client


# --- cost centers --------------------------------------------------------------------------------


def test_tam_adds_and_edits_cost_centers(client, world):
    _login(client, world.staff["tam"])
    assert "CC-GEN" in client.get(reverse("staff:cost_centers")).content.decode()
    response = client.post(
        reverse("staff:cost_center_add"), {"code": "CC-ACME", "name": "Acme only", "customer": world.acme.customer.pk}
    )
    assert response.status_code == 302
    cc = CostCenter.objects.get(code="CC-ACME")
    assert cc.customer == world.acme.customer
    assert AuditEntry.objects.filter(action="cost_center.create", object_id=str(cc.pk)).exists()

    response = client.post(reverse("staff:cost_center_edit", args=[cc.pk]), {"code": "CC-ACME", "name": "Acme"})
    assert response.status_code == 302
    cc.refresh_from_db()
    assert cc.name == "Acme" and cc.customer is None


def test_duplicate_cost_center_code_is_an_inline_error(client, world):
    _login(client, world.staff["tam"])
    response = client.post(reverse("staff:cost_center_add"), {"code": "cc-gen", "name": "Again"})
    assert response.status_code == 200 and 'id="id_code_error"' in response.content.decode()
    assert CostCenter.objects.count() == 1


def test_cost_centers_need_their_permission(client, world):
    _login(client, world.staff["csr"])
    assert client.get(reverse("staff:cost_centers")).status_code == 403
    assert client.post(reverse("staff:cost_center_add"), {"code": "X", "name": "X"}).status_code == 403
    assert client.get(reverse("staff:cost_center_edit", args=[world.cost_center.pk])).status_code == 403
    _login(client, world.staff["tam"])
    assert client.get(reverse("staff:cost_center_edit", args=[999999])).status_code == 404


# --- features ------------------------------------------------------------------------------------


def test_feature_catalogue(client, world):
    _login(client, world.staff["csr"])
    response = client.post(reverse("staff:feature_add"), {"code": "cx-builder", "name": "CX Builder"})
    assert response.status_code == 302
    feature = Feature.objects.get(code="cx-builder")
    assert AuditEntry.objects.filter(action="feature.create", object_id=str(feature.pk)).exists()
    assert "CX Builder" in client.get(reverse("staff:features")).content.decode()
    response = client.post(reverse("staff:feature_add"), {"code": "cx-builder", "name": "Again"})
    assert response.status_code == 200 and 'id="id_code_error"' in response.content.decode()
    response = client.post(
        reverse("staff:feature_edit", args=[feature.pk]), {"code": "cx-builder", "name": "CX Builder 2"}
    )
    assert response.status_code == 302
    feature.refresh_from_db()
    assert feature.name == "CX Builder 2"
    _login(client, world.staff["billing"])
    assert client.get(reverse("staff:features")).status_code == 403


# --- staff users ---------------------------------------------------------------------------------


def test_admin_adds_staff_user_with_welcome_mail(client, world, django_capture_on_commit_callbacks):
    _login(client, world.staff["admin"])
    html = client.get(reverse("staff:staff_users")).content.decode()
    assert "csr@provider.test" in html and "acme" not in html
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("staff:staff_user_add"),
            {"email": "new.tam@provider.test", "first_name": "Nina", "last_name": "Tam", "staff_role": "tam"},
        )
    assert response.status_code == 302
    user = User.objects.get(email="new.tam@provider.test")
    assert user.is_staff and user.staff_role == "tam" and user.customer is None
    assert len(mail.outbox) == 1 and "/welcome/" in mail.outbox[0].body
    assert AuditEntry.objects.filter(action="user.create", object_id=str(user.pk), customer=None).exists()


def test_bad_staff_user_input_changes_nothing(client, world):
    _login(client, world.staff["admin"])
    before = User.objects.count()
    for data, field in [
        ({"email": "csr@provider.test", "first_name": "A", "last_name": "B", "staff_role": "csr"}, "email"),
        ({"email": "x@provider.test", "first_name": "A", "last_name": "B", "staff_role": "king"}, "staff_role"),
        ({"email": "nope", "first_name": "A", "last_name": "B", "staff_role": "csr"}, "email"),
    ]:
        response = client.post(reverse("staff:staff_user_add"), data)
        assert response.status_code == 200 and f'id="id_{field}_error"' in response.content.decode()
    assert User.objects.count() == before


def test_disable_and_enable_staff_user_with_confirmation(client, world):
    _login(client, world.staff["admin"])
    csr = world.staff["csr"]
    url = reverse("staff:staff_user_active", args=[csr.pk])
    confirm = client.get(url)
    assert confirm.status_code == 200 and "Disable" in confirm.content.decode()
    csr.refresh_from_db()
    assert csr.is_active
    assert client.post(url).status_code == 302
    csr.refresh_from_db()
    assert not csr.is_active
    assert AuditEntry.objects.filter(action="user.disable", object_id=str(csr.pk)).exists()
    client.post(url)
    csr.refresh_from_db()
    assert csr.is_active
    # nobody disables themselves; a customer user is not a staff user here
    me = world.staff["admin"]
    client.post(reverse("staff:staff_user_active", args=[me.pk]))
    me.refresh_from_db()
    assert me.is_active
    assert client.get(reverse("staff:staff_user_active", args=[world.acme.master.pk])).status_code == 404


def test_only_staff_admins_manage_staff(client, world):
    _login(client, world.staff["tam"])
    assert client.get(reverse("staff:staff_users")).status_code == 403
    assert client.post(reverse("staff:staff_user_active", args=[world.staff["csr"].pk])).status_code == 403
    world.staff["csr"].refresh_from_db()
    assert world.staff["csr"].is_active


# --- audit ---------------------------------------------------------------------------------------


def test_staff_audit_sees_every_customer_and_filters(client, world):
    _login(client, world.staff["csr"])
    html = client.get(reverse("staff:audit")).content.decode()
    assert world.acme.customer.subscriber_id in html and world.globex.customer.subscriber_id in html
    html = client.get(reverse("staff:audit"), {"customer": world.acme.customer.subscriber_id}).content.decode()
    assert world.acme.customer.subscriber_id in html and world.globex.customer.subscriber_id not in html
    html = client.get(reverse("staff:audit"), {"action": "nothing."}).content.decode()
    assert world.acme.customer.subscriber_id not in html
    for params in ({"date_from": "not-a-date"}, {"customer": "abc"}, {"actor": "x" * 300}):
        assert client.get(reverse("staff:audit"), params).status_code == 200


def test_audit_entry_detail_and_export(client, world):
    entry = AuditEntry.objects.filter(customer=world.globex.customer, action="api_key.create").get()
    _login(client, world.staff["billing"])
    html = client.get(reverse("staff:audit_entry", args=[entry.pk])).content.decode()
    assert "api_key.create" in html and "Integration" in html and "master@globex.test" in html
    assert client.get(reverse("staff:audit_entry", args=[999999])).status_code == 404

    response = client.get(reverse("staff:audit_export"), {"customer": str(world.globex.customer.pk)})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    lines = body.strip().splitlines()
    assert lines[0].startswith("time,subscriber_id,actor,action")
    assert len(lines) == 2 and "api_key.create" in lines[1] and world.globex.customer.subscriber_id in lines[1]
