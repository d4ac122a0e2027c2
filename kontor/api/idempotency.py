"""`Idempotency-Key` on an API write, declared on the operation:

    @router.post("/transfers", ...)
    @requires(...)
    @idempotent_write()
    def transfer_credits(request: ScopedRequest, payload: TransferIn,
                         idempotency_key: str | None = Header(None, alias="Idempotency-Key")) -> Work:
        ...  # resolve and check what the body names: a refusal here is not kept under the key
        def work() -> HttpResponse:
            ...  # the write, done once per key and body
        return work

The operation checks its input, then returns the work; the declaration runs that work under
kontor.core.idempotency.run_idempotent with the caller's customer, the key, the method, path and body
(same key and body: the first answer again; another body: 422; a card charge in flight: 409). As
Stripe does for a request that fails validation, a refusal raised before the work starts is not kept as
the key's answer, so a client may correct the request and send it again with the same key."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.http import HttpRequest, HttpResponse
from ninja.utils import contribute_operation_callback

from kontor.access.requests import scope_of
from kontor.core.idempotency import run_idempotent

F = TypeVar("F", bound=Callable[..., Any])
Work = Callable[[], HttpResponse]
KEY_PARAMETER = "idempotency_key"


def idempotent_write(*, external: bool | Callable[..., bool] = False) -> Callable[[F], F]:
    """Run the work the operation returns once per Idempotency-Key. `external`: the work has an effect
    outside the database (a card charge), so it keeps the in-flight protocol; a callable decides from
    the operation's arguments (e.g. the payment method)."""

    def decorate(func: F) -> F:
        if KEY_PARAMETER not in inspect.signature(func).parameters:
            raise TypeError(f"{func.__qualname__} takes no {KEY_PARAMETER} (the Idempotency-Key header)")

        def install(operation: Any) -> None:
            # Replaces the view only after ninja has read its signature: the parameters stay the view's.
            operation.view_func = _once_per_key(operation.view_func, external)

        contribute_operation_callback(func, install)
        func.idempotent = True  # type: ignore[attr-defined]
        return func

    return decorate


def _once_per_key(view: Callable[..., Work], external: bool | Callable[..., bool]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def run(request: HttpRequest, **kwargs: Any) -> HttpResponse:
        work = view(request, **kwargs)
        return run_idempotent(
            customer_id=scope_of(request).customer.pk,
            key=kwargs.get(KEY_PARAMETER),
            method=request.method or "POST",
            path=request.path,
            body=request.body,
            work=work,
            external=external(**kwargs) if callable(external) else external,
        )

    return run
