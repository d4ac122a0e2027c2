"""Invoice numbers stay sequential and gap-free when purchases run concurrently and some roll back
(PostgreSQL: threads need a database they share)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from django.conf import settings
from django.db import connection, transaction

from kontor.billing.defaults import ensure_default_prices
from kontor.billing.invoices import issue_invoice
from kontor.billing.models import Invoice, InvoiceSequence
from kontor.billing.payments import PaymentResult
from kontor.billing.pricing import quote
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 8
PER_THREAD = 6


class Rollback(Exception):
    pass


@pytest.mark.skipif(
    not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"), reason="needs a shared PostgreSQL database"
)
def test_concurrent_purchases_get_gap_free_numbers():
    ensure_default_prices()
    user = UserFactory()
    customer = user.customer
    q = quote(customer, 10)
    barrier = threading.Barrier(THREADS)
    failures: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            barrier.wait()
            for i in range(PER_THREAD):
                try:
                    with transaction.atomic():
                        issue_invoice(
                            customer,
                            q,
                            actor=user,
                            billing_details={"company": f"Worker {worker}"},
                            payment_method="invoice",
                            payment=PaymentResult(ok=True, reference="r", status="due"),
                            journal_id=None,
                            description="x",
                            issued_at=dt.datetime(2031, 3, 1, tzinfo=dt.UTC),
                        )
                        if (worker + i) % 3 == 0:
                            raise Rollback  # e.g. the ledger refused the posting: the number returns
                except Rollback:
                    pass
        except BaseException as exc:  # reported to the main thread
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    committed = sum(1 for w in range(THREADS) for i in range(PER_THREAD) if (w + i) % 3 != 0)
    numbers = sorted(Invoice.objects.values_list("number", flat=True))
    assert numbers == [f"KON-2031-{n:06d}" for n in range(1, committed + 1)]
    assert InvoiceSequence.objects.get(year=2031).last == committed
