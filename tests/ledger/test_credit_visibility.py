"""Who may see which SMS credits (issue 8 §3): roles without 'View SMS credits', 'Send SMS' or 'Manage
Office SMS Credits' (support and technician in the world) see no balances and no logs, on the pages and
through the API; everyone else keeps what manual 001 gives them."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kontor.ledger import rules
from kontor.ledger.posting import user_wallet
from tests.ledger.test_views import acme, fund, names_in  # noqa: F401  (the fixture)
from tests.world import ROLE_SLUGS

MANAGE = reverse("ledger:manage")
# What each built-in role of the world may see on Manage SMS Credits: the names of the team's senders.
SEES_CREDITS = {"master", "administrator", "sender", "office_credit_manager", "read_only"}
BLIND = {"support", "technician"}
ALL = ["master", *ROLE_SLUGS]


def test_the_roles_split_as_the_manual_says():
    assert set(ALL) == SEES_CREDITS | BLIND


@pytest.mark.parametrize("slug", ALL)
def test_credit_view_follows_the_roles(acme, slug):  # noqa: F811
    view = rules.credit_view(acme.user(slug))
    if slug in BLIND:
        assert view.users == [] and not view.system
    else:
        assert acme.users["sender"].pk in view.user_ids


@pytest.mark.parametrize("slug", ALL)
def test_manage_page(client, acme, slug):  # noqa: F811
    fund(user_wallet(acme.users["sender"]), 40)
    client.force_login(acme.user(slug))
    response = client.get(MANAGE)
    if slug in BLIND:
        # The page is gated by a permission the role lacks: 403, and no balance anywhere in it.
        assert response.status_code == 403
        assert "Sender Acme" not in response.content.decode()
    else:
        assert response.status_code == 200
        assert "Sender Acme" in names_in(response.content.decode())


@pytest.mark.parametrize("slug", ALL)
# Not "page": that is pytest-playwright's fixture, and borrowing its name drags the browser tests (which
# flush the database) into the middle of the suite.
@pytest.mark.parametrize("url_name", ["ledger:log", "ledger:log_csv", "ledger:log_print"])
def test_another_users_log(client, acme, slug, url_name):  # noqa: F811
    wallet = fund(user_wallet(acme.users["sender"]), 40)
    client.force_login(acme.user(slug))
    response = client.get(reverse(url_name, args=[wallet.pk]))
    if slug in BLIND:
        assert response.status_code == 403
    else:
        assert response.status_code == 200


def test_the_nav_link_is_hidden_from_those_who_cannot_see_credits(client, acme):  # noqa: F811
    client.force_login(acme.users["support"])
    html = client.get(reverse("messaging:transactions")).content.decode()
    assert MANAGE not in html
    client.force_login(acme.users["sender"])
    assert MANAGE in client.get(reverse("messaging:transactions")).content.decode()


def test_a_blind_user_with_a_credit_permission_in_another_account_still_sees_nothing_of_the_team(acme):  # noqa: F811
    # credit_view decides per customer; support in the world holds no credit permission anywhere.
    support = acme.users["support"]
    assert not rules.sees_credits(support)
    assert rules.sees_credits(acme.users["read_only"])


@pytest.mark.parametrize("slug", ALL)
def test_api_wallets_follow_the_same_rules(client, acme, slug):  # noqa: F811
    wallet = fund(user_wallet(acme.users["sender"]), 40)
    client.force_login(acme.user(slug))
    listing = client.get("/api/v1/credits/wallets")
    log = client.get(f"/api/v1/credits/wallets/{wallet.pk}/log")
    csv = client.get(f"/api/v1/credits/wallets/{wallet.pk}/log.csv")
    if slug in BLIND:
        assert listing.status_code == 403 and log.status_code == 403 and csv.status_code == 403
        assert listing["Content-Type"].startswith("application/problem+json")
    else:
        assert listing.status_code == 200
        assert wallet.pk in {w["id"] for w in listing.json()["items"]}
        assert log.status_code == 200 and csv.status_code == 200
