"""Provider staff see every wallet of a customer and its full history; customers' users do not get in."""

from kontor.ledger.posting import Leg, post, provider_wallet, system_wallet


def _fund(world):
    system = system_wallet(world.acme.customer)
    post(
        "purchase",
        [Leg(provider_wallet(customer=world.acme.customer), -70), Leg(system, 70)],
        actor=None,
        customer=world.acme.customer,
        reason="Opening purchase",
    )
    return system


def test_billing_staff_see_wallets_and_full_history_and_csv(client, world):
    system = _fund(world)
    client.force_login(world.staff["billing"])
    assert "System" in client.get(f"/credits/staff/customers/{world.acme.customer.pk}/").content.decode()
    page = client.get(f"/credits/staff/customers/{world.acme.customer.pk}/wallets/{system.pk}/").content.decode()
    assert "Opening purchase" in page and "70" in page
    csv = b"".join(
        client.get(
            f"/credits/staff/customers/{world.acme.customer.pk}/wallets/{system.pk}/history.csv"
        ).streaming_content
    )
    assert b"Opening purchase" in csv


def test_a_wallet_of_another_customer_is_not_found_under_this_one(client, world):
    system = _fund(world)
    client.force_login(world.staff["billing"])
    assert client.get(f"/credits/staff/customers/{world.globex.customer.pk}/wallets/{system.pk}/").status_code == 404


def test_staff_with_audit_rights_get_in_and_customer_users_are_refused(client, world):
    system = _fund(world)
    url = f"/credits/staff/customers/{world.acme.customer.pk}/wallets/{system.pk}/"
    client.force_login(world.staff["tam"])  # TAM has audit rights
    assert client.get(url).status_code == 200
    client.force_login(world.acme.master)
    assert client.get(url).status_code == 403
