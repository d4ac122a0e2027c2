"""Password login with brute-force throttling that an attacker cannot turn against the owner.

Failures are counted per address, per (email, address) pair and per email. The per-email limit, the one
that would let someone lock a victim out from many addresses, is waived for a browser holding a device
cookie: a signed mark left by an earlier successful login of that user (OWASP's "device cookies").
Unknown emails are counted exactly like known ones, so no answer or timing tells them apart."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import authenticate
from django.core import signing
from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from kontor.access.models import LoginThrottle, User, normalise_email
from kontor.audit.services import record
from kontor.core.netaddr import address_allowed

DEVICE_COOKIE = "kontor_device"
DEVICE_SALT = "kontor.access.device"
DEVICE_MAX_AGE = 60 * 60 * 24 * 180
GENERIC_FAILURE = "The email or password is not correct."


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    error: str = ""
    code: str = ""  # "", "invalid" (also: right password from outside the IP allowlist), "throttled"


def _keys(email: str, ip: str | None) -> dict[str, str]:
    addr = _address_key(ip)
    return {"ip": f"ip:{addr}", "pair": f"pair:{email}|{addr}", "user": f"user:{email}"}


def _address_key(ip: str | None) -> str:
    """IPv6 clients usually own a whole /64, so that is what a per-address limit counts."""
    if not ip:
        return "unknown"
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _limits() -> dict[str, int]:
    per_user = settings.KONTOR_LOGIN_MAX_PER_USER
    return {"ip": settings.KONTOR_LOGIN_MAX_PER_ADDRESS, "pair": per_user, "user": per_user * 3}


def device_email(request: HttpRequest) -> str | None:
    raw = request.COOKIES.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        return str(signing.loads(raw, salt=DEVICE_SALT, max_age=DEVICE_MAX_AGE))
    except signing.BadSignature:
        return None


def set_device_cookie(response: HttpResponse, email: str) -> None:
    response.set_cookie(
        DEVICE_COOKIE,
        signing.dumps(email, salt=DEVICE_SALT),
        max_age=DEVICE_MAX_AGE,
        httponly=True,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
    )


def _reserve(keys: dict[str, str], window_seconds: int | None = None) -> dict[str, int]:
    """Count this attempt against every key before the password is checked, and return the counts as
    they were before it: reserving first means parallel guesses cannot all slip under the limit."""
    now = timezone.now()
    seconds = settings.KONTOR_LOGIN_WINDOW_SECONDS if window_seconds is None else window_seconds
    window_start = now - timedelta(seconds=seconds)
    before: dict[str, int] = {}
    with transaction.atomic():
        for kind, key in sorted(keys.items(), key=lambda item: item[1]):  # a fixed lock order
            row, created = LoginThrottle.objects.select_for_update().get_or_create(
                key=key, defaults={"failures": 1, "window_start": now}
            )
            if created:
                before[kind] = 0
            elif row.window_start < window_start:
                LoginThrottle.objects.filter(pk=row.pk).update(failures=1, window_start=now)
                before[kind] = 0
            else:
                LoginThrottle.objects.filter(pk=row.pk).update(failures=F("failures") + 1)
                before[kind] = row.failures
    return before


def _over_limit(before: dict[str, int], trusted_device: bool) -> bool:
    limits = _limits()
    return any(
        before.get(kind, 0) >= limit for kind, limit in limits.items() if not (kind == "user" and trusted_device)
    )


def password_confirms(actor: User, raw: str | None) -> bool:
    """The signed-in person typed their own password again. Master status, another master's email and
    their enablement open a whole organisation: a session left open, or a stolen session cookie, must
    not be enough for them (pages and the API ask the same way)."""
    return isinstance(raw, str) and raw != "" and actor.check_password(raw)


def clear_email_failures(email: str) -> None:
    """After a completed password reset: whoever holds the new password is the owner, so the failures
    counted against their email (from any address) no longer stand between them and their account.
    The per-address counts stay: they are about the addresses, not the owner."""
    email = normalise_email(email)
    LoginThrottle.objects.filter(key=f"user:{email}").delete()
    LoginThrottle.objects.filter(key__startswith=f"pair:{email}|").delete()


def reset_request_allowed(email: str, ip: str | None) -> bool:
    """Counts a password-reset request per email and per address; False once either is over its limit
    in the window (the caller then answers the same but mails nothing)."""
    keys = {"email": f"reset:{normalise_email(email)}", "ip": f"reset-ip:{_address_key(ip)}"}
    before = _reserve(keys, settings.KONTOR_RESET_WINDOW_SECONDS)
    limits = {"email": settings.KONTOR_RESET_MAX_PER_EMAIL, "ip": settings.KONTOR_RESET_MAX_PER_ADDRESS}
    return all(before[kind] < limit for kind, limit in limits.items())


def clear_failures(email: str, ip: str | None) -> None:
    """After a successful sign-in: forget the failures of this user, and give the address its attempt back."""
    keys = _keys(normalise_email(email), ip)
    LoginThrottle.objects.filter(key__in=[keys["pair"], keys["user"]]).delete()
    LoginThrottle.objects.filter(key=keys["ip"], failures__gt=0).update(failures=F("failures") - 1)


def attempt_login(request: HttpRequest, email: str, password: str) -> LoginResult:
    email = normalise_email(email)
    ip: str | None = getattr(request, "client_ip", None)
    keys = _keys(email, ip)
    trusted = device_email(request) == email
    before = _reserve(keys)
    if _over_limit(before, trusted):
        # Hash anyway: a throttled answer must cost the same time as any other.
        User().set_password(password or "x")
        minutes = max(1, settings.KONTOR_LOGIN_WINDOW_SECONDS // 60)
        if _over_limit({k: v for k, v in before.items() if k != "user"}, trusted):
            return LoginResult(
                None, f"Too many failed sign-in attempts from here. Try again in up to {minutes} minutes.", "throttled"
            )
        # Only the per-email limit: someone may be failing on purpose from many addresses to lock the
        # owner out. Unknown emails are counted alike, so saying so tells nothing about who exists.
        return LoginResult(
            None,
            "Too many failed sign-in attempts for this email, from several places. You can still sign in "
            "from a browser you have signed in with before; or reset your password (a completed reset "
            f"lifts this block); or wait up to {minutes} minutes; or ask your master user for help.",
            "throttled",
        )
    user = authenticate(request, username=email, password=password)
    if user is None:
        return LoginResult(None, GENERIC_FAILURE, "invalid")
    assert isinstance(user, User)
    customer = user.customer
    if customer is not None and not address_allowed(ip, customer.ip_allowlist):
        with transaction.atomic():
            record(
                "user.login_refused",
                user,
                actor=user,
                customer=customer,
                after={"reason": "ip_not_allowed", "ip": ip},
            )
        # Answered like a wrong password, and left counted as a failure: a distinct answer here would
        # confirm a guessed password to anyone outside the list. The owner's master users find the
        # refusal, with the address, in the audit log.
        return LoginResult(None, GENERIC_FAILURE, "invalid")
    clear_failures(email, ip)
    return LoginResult(user)
