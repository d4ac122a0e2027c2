"""Users (email login), roles, API keys, one-time links and login throttles."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any, ClassVar

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.hashers import check_password, make_password
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone

from kontor.access.perms import CUSTOMER_PERMS, STAFF_ROLE_PERMS, Perm, StaffRole
from kontor.core.models import AccountModel, ScopedQuerySet, TimeStamped
from kontor.core.scope import Scope
from kontor.tenancy.models import validate_time_zone


class UserManager(BaseUserManager.from_queryset(ScopedQuerySet)):  # type: ignore[misc]
    use_in_migrations = True

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=(username or "").strip())

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        user = self.model(email=normalise_email(email), **fields)
        user.set_password(password) if password else user.set_unusable_password()
        user.save(using=self._db)
        return user  # type: ignore[no-any-return]


def normalise_email(email: str) -> str:
    return (email or "").strip().lower()


class User(AbstractBaseUser):
    """A person: provider staff (is_staff, with a staff role) or a user of one customer."""

    email = models.EmailField(max_length=254)
    first_name = models.CharField(max_length=80)
    last_name = models.CharField(max_length=80)
    phone = models.CharField("contact phone", max_length=20, blank=True, help_text="E.164, e.g. +46701234567")
    time_zone = models.CharField(max_length=64, default="UTC", validators=[validate_time_zone])
    customer = models.ForeignKey(
        "tenancy.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="users"
    )
    is_master = models.BooleanField("master user", default=False)
    is_staff = models.BooleanField("provider staff", default=False)
    staff_role = models.CharField(max_length=16, blank=True, choices=[(r.value, r.label) for r in StaffRole])
    is_active = models.BooleanField(default=True)
    primary_office = models.ForeignKey(
        "tenancy.Office", null=True, blank=True, on_delete=models.SET_NULL, related_name="primary_users"
    )
    additional_offices = models.ManyToManyField("tenancy.Office", blank=True, related_name="additional_users")
    team = models.ForeignKey("tenancy.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    pin_hash = models.CharField(max_length=256, blank=True)
    security_question = models.CharField(max_length=200, blank=True)
    security_answer_hash = models.CharField(max_length=256, blank=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["first_name", "last_name"]

    class Meta:
        ordering = ["last_name", "first_name", "email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_unique_ci"),
            models.CheckConstraint(
                condition=Q(is_staff=True, customer__isnull=True) | Q(is_staff=False, customer__isnull=False),
                name="user_is_staff_xor_customer",
            ),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer_id=scope.customer.pk)

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = normalise_email(self.email)
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def staff_perms(self) -> frozenset[Perm]:
        if not self.is_staff or not self.is_active or not self.staff_role:
            return frozenset()
        return STAFF_ROLE_PERMS.get(StaffRole(self.staff_role), frozenset())

    @property
    def office_ids(self) -> set[int]:
        ids = {o.pk for o in self.additional_offices.all()}
        if self.primary_office_id:
            ids.add(self.primary_office_id)
        return ids

    @property
    def has_pin(self) -> bool:
        return bool(self.pin_hash)

    def check_pin(self, pin: str) -> bool:
        return bool(self.pin_hash) and check_password(pin.strip(), self.pin_hash)

    def check_security_answer(self, answer: str) -> bool:
        return bool(self.security_answer_hash) and check_password(normalise_answer(answer), self.security_answer_hash)

    def set_pin(self, pin: str) -> None:
        self.pin_hash = make_password(pin.strip())

    def set_security_answer(self, answer: str) -> None:
        self.security_answer_hash = make_password(normalise_answer(answer))


def normalise_answer(answer: str) -> str:
    """Answers compare without regard to case or runs of spaces, as a caller says them."""
    return " ".join((answer or "").lower().split())


class Role(TimeStamped):
    """A named set of permissions. Built-in roles have no customer; customers add their own."""

    customer = models.ForeignKey(
        "tenancy.Customer", null=True, blank=True, on_delete=models.CASCADE, related_name="roles"
    )
    slug = models.SlugField(max_length=64, blank=True, help_text="Set on built-in roles only.")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=200, blank=True)
    perms = models.JSONField(default=list)

    objects: ClassVar[Any] = models.Manager.from_queryset(ScopedQuerySet)()

    class Meta:
        ordering = ["customer_id", "name"]
        constraints = [
            models.UniqueConstraint(
                Lower("name"),
                "customer",
                name="role_name_unique_per_customer",
                condition=Q(customer__isnull=False),
            ),
            models.UniqueConstraint(fields=["slug"], condition=Q(customer__isnull=True), name="builtin_role_slug"),
        ]

    def __str__(self) -> str:
        return self.name

    @classmethod
    def scope_q(cls, scope: Scope) -> Q:
        return Q(customer__isnull=True) | Q(customer_id=scope.customer.pk)

    @property
    def is_builtin(self) -> bool:
        return self.customer_id is None

    @property
    def perm_set(self) -> frozenset[Perm]:
        return frozenset(Perm(p) for p in self.perms if p in {q.value for q in CUSTOMER_PERMS})


API_KEY_PREFIX = "kon"


def hash_secret(secret: str) -> str:
    # API keys carry 256 random bits, so a fast digest is safe here, unlike for passwords.
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKey(AccountModel):
    """A key bound to one account and a set of permissions. Only its hash is stored."""

    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    perms = models.JSONField(default=list)
    created_by = models.ForeignKey(User, null=True, on_delete=models.SET_NULL, related_name="+")
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def perm_set(self) -> frozenset[Perm]:
        return frozenset(Perm(p) for p in self.perms if p in {q.value for q in CUSTOMER_PERMS})

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """(full key shown once, prefix, hash)."""
        prefix = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        full = f"{API_KEY_PREFIX}_{prefix}_{secret}"
        return full, prefix, hash_secret(full)


class OneTimeToken(TimeStamped):
    """A link sent by mail (welcome, password reset): stored hashed, expires, works once."""

    class Purpose(models.TextChoices):
        WELCOME = "welcome", "Welcome (set password, PIN and security question)"
        RESET = "reset", "Password reset"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    @property
    def usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class LoginThrottle(models.Model):
    """Failed-login counters per key ("user:<email>", "pair:<email>|<ip>", "ip:<ip>") in a window, and
    password-reset request counters ("reset:<email>", "reset-ip:<ip>") in theirs (login.py)."""

    key = models.CharField(max_length=400, unique=True)
    failures = models.PositiveIntegerField(default=0)
    window_start = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.key}: {self.failures}"
