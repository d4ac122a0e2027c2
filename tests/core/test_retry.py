"""kontor.core.retry: a deadlock or serialization failure reruns the whole transaction; anything else
is not retried; exhausted retries become a 503 `busy` that the API answers with Retry-After."""

from __future__ import annotations

import sqlite3

import pytest
from django.db import OperationalError, transaction

from kontor.access.models import User
from kontor.core.errors import Invalid
from kontor.core.models import IdempotencyRecord
from kontor.core.retry import Busy, is_retryable, retried, retrying

pytestmark = pytest.mark.django_db


class _Deadlock(Exception):
    sqlstate = "40P01"


class _Serialization(Exception):
    sqlstate = "40001"


def _db_error(cause: BaseException) -> OperationalError:
    """As Django raises them: its OperationalError with the driver's error as the cause."""
    try:
        raise OperationalError(str(cause)) from cause
    except OperationalError as exc:
        return exc


def _customer_id() -> int:
    return User.objects.filter(customer__isnull=False).values_list("customer_id", flat=True).first() or 0


def test_retryable_errors_are_recognised() -> None:
    assert is_retryable(_db_error(_Deadlock("deadlock detected")))
    assert is_retryable(_db_error(_Serialization("could not serialize access")))
    assert is_retryable(_db_error(sqlite3.OperationalError("database is locked")))
    assert not is_retryable(_db_error(sqlite3.OperationalError("no such table: x")))
    assert not is_retryable(ValueError("database is locked"))  # not a database error
    assert not is_retryable(Invalid("nope"))


def test_forced_deadlock_then_success_runs_the_body_twice_and_commits_once(world: object) -> None:
    customer_id = _customer_id()
    calls: list[int] = []
    pauses: list[float] = []

    def body() -> str:
        calls.append(1)
        IdempotencyRecord.objects.create(customer_id=customer_id, key=f"retry-{len(calls)}", request_hash="x")
        if len(calls) == 1:
            raise _db_error(_Deadlock("deadlock detected"))
        return "done"

    assert retrying(body, sleep=pauses.append) == "done"
    assert len(calls) == 2
    assert len(pauses) == 1
    # the first attempt's row rolled back with its transaction; only the second one's is there
    keys = set(IdempotencyRecord.objects.filter(key__startswith="retry-").values_list("key", flat=True))
    assert keys == {"retry-2"}


def test_non_retryable_errors_are_not_retried(world: object) -> None:
    calls: list[int] = []

    def invalid() -> None:
        calls.append(1)
        raise Invalid("refused")

    with pytest.raises(Invalid):
        retrying(invalid, sleep=lambda _s: None)
    assert calls == [1]

    def broken() -> None:
        calls.append(2)
        raise _db_error(sqlite3.OperationalError("no such table: nothing"))

    with pytest.raises(OperationalError):
        retrying(broken, sleep=lambda _s: None)
    assert calls == [1, 2]


def test_exhausted_retries_raise_busy_and_nothing_is_written(world: object) -> None:
    customer_id = _customer_id()
    calls: list[int] = []

    @retried(attempts=3)
    def always_deadlocks() -> None:
        calls.append(1)
        IdempotencyRecord.objects.create(customer_id=customer_id, key=f"busy-{len(calls)}", request_hash="x")
        raise _db_error(_Deadlock("deadlock detected"))

    with pytest.raises(Busy) as caught:
        always_deadlocks()
    assert len(calls) == 3
    assert caught.value.status == 503
    assert caught.value.problem()["code"] == "busy"
    assert not IdempotencyRecord.objects.filter(key__startswith="busy-").exists()


def test_inside_a_foreign_transaction_the_body_runs_once_and_the_error_propagates(world: object) -> None:
    calls: list[int] = []

    def body() -> None:
        calls.append(1)
        raise _db_error(_Deadlock("deadlock detected"))

    with pytest.raises(OperationalError), transaction.atomic():
        retrying(body, sleep=lambda _s: None)
    assert calls == [1]


@pytest.mark.parametrize("key", [None, "busy-key"])
def test_an_api_write_whose_retries_run_out_answers_503_busy_with_retry_after(client, world, monkeypatch, key):
    from kontor.ledger import services
    from kontor.ledger.posting import pool_wallet, system_wallet

    calls: list[int] = []

    def deadlocked(*args: object, **kwargs: object) -> None:
        calls.append(1)
        raise _db_error(_Deadlock("deadlock detected"))

    monkeypatch.setattr(services, "transfer", deadlocked)
    monkeypatch.setattr("kontor.core.retry.backoff", lambda attempt: 0.0)
    client.force_login(world.acme.master)
    body = {
        "from_wallet_id": system_wallet(world.acme.customer).pk,
        "to_wallet_id": pool_wallet(world.acme.account).pk,
        "amount": 1,
    }
    headers = {"Idempotency-Key": key} if key else {}
    response = client.post("/api/v1/credits/transfers", body, content_type="application/json", headers=headers)
    assert response.status_code == 503, response.content
    assert response["Content-Type"].startswith("application/problem+json")
    assert response["Retry-After"] == "1"
    assert response.json()["code"] == "busy"
    assert len(calls) == 5  # the whole transaction, five times
    assert not IdempotencyRecord.objects.filter(key="busy-key").exists()  # a retry later may do it


def test_a_deadlock_outside_a_retried_transaction_is_503_not_500(client, world, monkeypatch):
    from kontor.ledger import selectors

    def deadlocked(*args: object, **kwargs: object) -> None:
        raise _db_error(_Deadlock("deadlock detected"))

    monkeypatch.setattr(selectors, "credit_overview", deadlocked)
    client.force_login(world.acme.master)
    response = client.get("/api/v1/credits/wallets")
    assert response.status_code == 503 and response.json()["code"] == "busy"
    assert response["Retry-After"] == "1"
