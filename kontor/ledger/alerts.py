"""Low-balance alerts: mailed once, when a wallet's balance crosses its threshold downwards, on commit."""

from __future__ import annotations

from kontor.access.models import User
from kontor.core.mail import send_on_commit
from kontor.ledger.models import Wallet


def notify_low_balance(wallet: Wallet, balance: int) -> None:
    recipients: list[str] = []
    if wallet.user_id is not None:
        owner = User.objects.filter(pk=wallet.user_id, is_active=True).values_list("email", flat=True).first()
        if owner:
            recipients.append(owner)
    if wallet.customer_id is not None:
        recipients += list(
            User.objects.filter(customer_id=wallet.customer_id, is_master=True, is_active=True).values_list(
                "email", flat=True
            )
        )
    recipients = list(dict.fromkeys(recipients))
    if recipients:
        send_on_commit(
            "ledger/mail/low_balance",
            {"wallet": str(wallet), "balance": balance, "threshold": wallet.low_balance_threshold},
            recipients,
        )
