"""Buying SMS credits: the price, the payment, then the credits (a ledger purchase) and a tax invoice in
one transaction. Billing sits on top of the ledger: it moves credits only through the ledger's posting."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from kontor.audit.services import record
from kontor.billing import invoices
from kontor.billing.invoices import Invoice, clean_billing_details
from kontor.billing.payments import PaymentDeclined, get_provider, has_outside_effect
from kontor.billing.pricing import quote
from kontor.core import idempotency
from kontor.core.errors import Invalid
from kontor.core.models import IdempotencyRecord
from kontor.core.retry import retrying
from kontor.ledger import rules
from kontor.ledger.models import JournalTransaction
from kontor.ledger.posting import Leg, post, provider_wallet, system_wallet, user_wallet
from kontor.ledger.services import audit_journal, checked_amount, replayed_journal

if TYPE_CHECKING:
    from kontor.access.models import User
    from kontor.tenancy.models import Customer


@dataclass(frozen=True)
class PurchaseResult:
    journal: JournalTransaction
    invoice: Invoice | None
    created: bool


def purchase(
    customer: Customer,
    *,
    actor: User,
    quantity: int,
    for_user: User | None,
    payment_method: str,
    billing_details: dict[str, str],
    payment_details: dict[str, str] | None = None,
    idempotency_key: str | None = None,
) -> PurchaseResult:
    """Buy credits into the system wallet (`for_user` None: master users only) or a user's wallet.
    Price → payment → on success the credits and a tax invoice, in one transaction. A declined payment
    applies nothing. A payment with no outside effect (invoice on account) runs whole in one retried
    transaction, its idempotency claim included, so a crash leaves either everything or nothing."""

    def run() -> PurchaseResult:
        return _purchase(
            customer,
            actor=actor,
            quantity=quantity,
            for_user=for_user,
            payment_method=payment_method,
            billing_details=billing_details,
            payment_details=payment_details,
            idempotency_key=idempotency_key,
        )

    return run() if has_outside_effect(payment_method) else retrying(run)


def _purchase(
    customer: Customer,
    *,
    actor: User,
    quantity: int,
    for_user: User | None,
    payment_method: str,
    billing_details: dict[str, str],
    payment_details: dict[str, str] | None,
    idempotency_key: str | None,
) -> PurchaseResult:
    quantity = checked_amount(quantity, "quantity")
    if for_user is None:
        rules.check_purchase_for_system(actor, customer)
        target = system_wallet(customer)
    else:
        rules.check_purchase_for_user(actor, for_user)
        target = user_wallet(for_user)
    details = clean_billing_details(billing_details)
    price = quote(customer, quantity)
    provider = get_provider(payment_method)
    # The key is claimed before the card is charged, so two clicks on "Pay" cannot charge twice.
    claimed: IdempotencyRecord | None = None
    if idempotency_key:
        fingerprint = hashlib.sha256(
            json.dumps([quantity, target.pk, payment_method, details], sort_keys=True).encode()
        ).hexdigest()
        outcome = idempotency.claim(customer.pk, f"purchase:{idempotency_key}", fingerprint)
        if isinstance(outcome, idempotency.Stored):
            if outcome.status == 402:
                raise PaymentDeclined(json.loads(outcome.body).get("detail", "The payment was declined."))
            journal = JournalTransaction.objects.get(customer=customer, idempotency_key=idempotency_key)
            return PurchaseResult(journal, Invoice.objects.filter(journal_id=journal.pk).first(), False)
        claimed = outcome
        try:
            # The journal outlives the idempotency record (kept 24 h): never charge again for a key
            # that already bought credits, nor for one another operation used.
            done = replayed_journal(
                customer,
                idempotency_key,
                JournalTransaction.Kind.PURCHASE,
                [Leg(provider_wallet(target.unit, customer), -quantity), Leg(target, quantity)],
            )
        except Invalid:
            idempotency.abandon(claimed)
            raise
        if done is not None:
            idempotency.finish(claimed, 201, json.dumps({"journal_id": str(done.pk)}))
            return PurchaseResult(done, Invoice.objects.filter(journal_id=done.pk).first(), False)
    try:
        payment = provider.charge(
            amount_minor=price.gross_minor,
            currency=price.currency,
            details=payment_details or {},
            description=f"{quantity} SMS credits",
        )
        if not payment.ok:
            declined = PaymentDeclined(payment.message or "The payment was declined; nothing was charged or applied.")
            with transaction.atomic():
                record(
                    "credits.purchase_declined",
                    None,
                    actor=actor,
                    customer=customer,
                    object_type="payment",
                    object_id=payment.reference,
                    after={"quantity": quantity, "method": payment_method, "message": payment.message},
                )
                if claimed is not None:
                    idempotency.finish(claimed, declined.status, json.dumps(declined.problem()))
            claimed = None
            raise declined

        def apply() -> tuple[JournalTransaction, Any]:
            legs = [Leg(provider_wallet(target.unit, customer), -quantity), Leg(target, quantity)]
            journal = post(
                JournalTransaction.Kind.PURCHASE,
                legs,
                customer=customer,
                idempotency_key=idempotency_key,
                actor=actor,
                on_behalf_of=for_user,
                reason=f"Purchase of {quantity} credits ({provider.label})",
            )
            invoice = invoices.issue_invoice(
                customer,
                price,
                actor=actor,
                billing_details=details,
                payment_method=payment_method,
                payment=payment,
                journal_id=journal.pk,
                description=f"SMS credits for {for_user or 'system (unallocated) credits'}",
            )
            audit_journal(
                journal,
                actor=actor,
                legs=legs,
                extra={"invoice": invoice.number, "gross_minor": price.gross_minor, "currency": price.currency},
            )
            if claimed is not None:
                idempotency.finish(claimed, 201, json.dumps({"journal_id": str(journal.pk)}))
            return journal, invoice

        # The card is charged: only this database transaction is rerun on a deadlock, never the charge.
        journal, invoice = retrying(apply)
        claimed = None
    finally:
        if claimed is not None:
            idempotency.abandon(claimed)
    return PurchaseResult(journal, invoice, True)
