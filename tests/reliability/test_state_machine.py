"""A Hypothesis state machine (issue 3 §6): random sequences of purchase, transfer, consume, refund,
reserve, settle and release on a handful of users and the system wallet, checked after every step
against a plain Python model of the rules (overdrafts refused and nothing moved; credits only go to
users with 'Send SMS'; consumption from one's own wallet) and the invariant that everything sums to
zero. Fixed seed and derandomized, so a failure replays the same way. Each example runs in a
transaction that is rolled back, so examples start from the same empty wallets."""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test

from kontor.access.models import Role, User
from kontor.core.errors import Forbidden, Invalid
from kontor.ledger import services
from kontor.ledger.models import Wallet
from kontor.ledger.posting import (
    InsufficientCredits,
    Leg,
    hold_wallet,
    post,
    provider_wallet,
    system_wallet,
    user_wallet,
)
from kontor.tenancy.models import Account, CreditMode, Customer, Membership

SENDERS = 3  # users with 'Send SMS'; one more user without it


class _Rollback(Exception):
    pass


def _build() -> dict:
    customer = Customer.objects.create(name="Model customer", billing_id="m-1", credit_mode=CreditMode.INDIVIDUAL)
    account = Account.objects.create(customer=customer, name="Model")
    master = User.objects.create(customer=customer, email="m@model.test", first_name="M", last_name="M", is_master=True)
    users = []
    for i in range(SENDERS + 1):
        user = User.objects.create(customer=customer, email=f"u{i}@model.test", first_name="U", last_name=str(i))
        role = "sender" if i < SENDERS else "support"  # support: no 'Send SMS'
        Membership.objects.create(
            customer=customer, account=account, user=user, role=Role.objects.get(customer=None, slug=role)
        )
        users.append(user)
    return {
        "customer": customer,
        "account": account,
        "master": master,
        "users": users,
        "wallets": {u.pk: user_wallet(u) for u in users},
        "system": system_wallet(customer),
        "hold": hold_wallet(customer),
        "provider": provider_wallet(customer=customer),
    }


amounts = st.integers(min_value=1, max_value=60)
user_index = st.integers(min_value=0, max_value=SENDERS)  # SENDERS itself is the user without 'Send SMS'


def machine_for(world: dict) -> type[RuleBasedStateMachine]:
    @seed(20260603)
    class LedgerMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            self.w = world
            self.all = [world["provider"], world["system"], world["hold"], *world["wallets"].values()]
            self.model = {w.pk: 0 for w in self.all}
            # The wallets start each example at zero: the previous example was rolled back.
            assert dict(Wallet.objects.filter(pk__in=self.model).values_list("pk", "balance")) == self.model

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.atomic.__exit__(_Rollback, _Rollback(), None)

        # --- the model's helpers ---

        def user(self, i: int) -> User:
            return self.w["users"][i]

        def wallet(self, i: int) -> Wallet:
            return self.w["wallets"][self.user(i).pk]

        def can_send(self, i: int) -> bool:
            return i < SENDERS

        def move(self, source: Wallet, target: Wallet, amount: int) -> None:
            self.model[source.pk] -= amount
            self.model[target.pk] += amount

        def expect_refusal(self, source: Wallet, amount: int, call) -> bool:
            """Run `call`; when the model says `source` is short, it must be refused and change nothing."""
            if source.kind != Wallet.Kind.PROVIDER and self.model[source.pk] < amount:
                with pytest.raises(InsufficientCredits) as caught:
                    call()
                assert caught.value.available == self.model[source.pk]
                assert caught.value.needed == amount
                return True
            call()
            return False

        # --- rules ---

        @rule(i=user_index, amount=amounts)
        def purchase(self, i: int, amount: int) -> None:
            target = self.wallet(i) if self.can_send(i) else self.w["system"]
            post(
                "purchase",
                [Leg(self.w["provider"], -amount), Leg(target, amount)],
                actor=self.w["master"],
                customer=self.w["customer"],
            )
            self.move(self.w["provider"], target, amount)

        @rule(i=user_index, j=user_index, amount=amounts, from_system=st.booleans())
        def transfer(self, i: int, j: int, amount: int, from_system: bool) -> None:
            source = self.w["system"] if from_system else self.wallet(i)
            target = self.wallet(j)
            if source.pk == target.pk:
                with pytest.raises(Invalid):
                    services.transfer(source, target, amount, actor=self.w["master"])
                return
            if not self.can_send(j):  # credits only go to users who can send
                with pytest.raises(Forbidden):
                    services.transfer(source, target, amount, actor=self.w["master"])
                return
            if not self.expect_refusal(
                source, amount, lambda: services.transfer(source, target, amount, actor=self.w["master"])
            ):
                self.move(source, target, amount)

        @rule(i=user_index, amount=amounts)
        def to_system(self, i: int, amount: int) -> None:
            source, target = self.wallet(i), self.w["system"]
            if not self.expect_refusal(
                source, amount, lambda: services.transfer(source, target, amount, actor=self.w["master"])
            ):
                self.move(source, target, amount)

        @rule(i=user_index, amount=amounts)
        def consume(self, i: int, amount: int) -> None:
            if not self.can_send(i):
                with pytest.raises(Forbidden):
                    services.consume(self.user(i), self.w["account"], amount)
                return
            source = self.wallet(i)
            if not self.expect_refusal(
                source, amount, lambda: services.consume(self.user(i), self.w["account"], amount)
            ):
                self.move(source, self.w["provider"], amount)

        @rule(i=user_index, amount=st.integers(min_value=1, max_value=20))
        def refund(self, i: int, amount: int) -> None:
            services.refund(self.wallet(i), amount, actor=self.w["master"], reason="failed message")
            self.move(self.w["provider"], self.wallet(i), amount)

        @rule(i=user_index, amount=amounts)
        def reserve(self, i: int, amount: int) -> None:
            source = self.wallet(i)
            if not self.expect_refusal(source, amount, lambda: services.reserve(source, amount, actor=self.user(i))):
                self.move(source, self.w["hold"], amount)

        @precondition(lambda self: self.model[self.w["hold"].pk] > 0)
        @rule(amount=amounts)
        def settle(self, amount: int) -> None:
            hold = self.w["hold"]
            if not self.expect_refusal(hold, amount, lambda: services.settle(self.w["customer"], amount)):
                self.move(hold, self.w["provider"], amount)

        @precondition(lambda self: self.model[self.w["hold"].pk] > 0)
        @rule(i=user_index, amount=amounts)
        def release(self, i: int, amount: int) -> None:
            hold, target = self.w["hold"], self.wallet(i)
            if not self.expect_refusal(hold, amount, lambda: services.release(target, amount)):
                self.move(hold, target, amount)

        @rule(amount=st.sampled_from([0, -1, True, 100_000_001]))
        def nonsense_amount(self, amount: int) -> None:
            with pytest.raises(Invalid):
                services.transfer(self.w["system"], self.wallet(0), amount, actor=self.w["master"])

        # --- after every step ---

        @invariant()
        def database_matches_the_model(self) -> None:
            stored = dict(Wallet.objects.filter(pk__in=self.model).values_list("pk", "balance"))
            assert stored == self.model

        @invariant()
        def everything_sums_to_zero(self) -> None:
            assert sum(self.model.values()) == 0
            assert all(v >= 0 for pk, v in self.model.items() if pk != self.w["provider"].pk)

    return LedgerMachine


def test_ledger_matches_a_plain_model(db):
    world = _build()
    machine = machine_for(world)
    run_state_machine_as_test(
        machine, settings=settings(derandomize=True, max_examples=30, stateful_step_count=25, deadline=None)
    )
    # The rollbacks left the wallets as they started, so the examples really were independent.
    assert set(Wallet.objects.filter(customer=world["customer"]).values_list("balance", flat=True)) == {0}
