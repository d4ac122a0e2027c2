"""Helpers for the messaging tests: funded pools, and running on-commit work (dispatch, DLRs) at once."""

from __future__ import annotations

import pytest

from kontor.ledger.models import Wallet
from kontor.ledger.posting import Leg, pool_wallet, post, provider_wallet


def fund(wallet: Wallet, amount: int) -> Wallet:
    post("purchase", [Leg(provider_wallet(), -amount), Leg(wallet, amount)], actor=None, customer=wallet.customer)
    wallet.refresh_from_db()
    return wallet


@pytest.fixture
def pool(world):
    """Acme's Sales pool with 100 credits."""
    return fund(pool_wallet(world.acme.account), 100)


@pytest.fixture
def run_commits(django_capture_on_commit_callbacks):
    """Use as `with run_commits(): ...`: on-commit callbacks (dispatch, then the DLR) run at the end."""

    def runner():  # type: ignore[no-untyped-def]
        return django_capture_on_commit_callbacks(execute=True)

    return runner
