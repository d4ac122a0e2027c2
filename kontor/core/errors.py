"""Error codes (stable, part of the API contract) and the domain exceptions services raise."""

from __future__ import annotations

from enum import StrEnum

from kontor.core.problems import problem_dict


class ErrorCode(StrEnum):
    NOT_FOUND = "not_found"
    NOT_AUTHENTICATED = "not_authenticated"
    PERMISSION_DENIED = "permission_denied"
    IP_NOT_ALLOWED = "ip_not_allowed"
    VALIDATION = "validation_error"
    CONFLICT = "conflict"
    DUPLICATE = "duplicate"
    LOCKOUT_RISK = "allowlist_excludes_current_address"
    THROTTLED = "throttled"
    TOKEN_INVALID = "token_invalid"
    ACCOUNT_ARCHIVED = "account_archived"
    LIMIT_EXCEEDED = "limit_exceeded"
    INSUFFICIENT_CREDITS = "insufficient_credits"
    PAYMENT_DECLINED = "payment_declined"
    IDEMPOTENCY_MISMATCH = "idempotency_key_reused"
    IDEMPOTENCY_IN_FLIGHT = "idempotency_key_in_flight"
    INTERNAL = "internal_error"
    COLUMN_DATA_AT_RISK = "column_data_at_risk"  # 409: a custom column change would hide or clear values
    BUSY = "busy"  # 503: the database kept refusing the transaction (kontor.core.retry)
    REAUTHENTICATION_REQUIRED = "reauthentication_required"  # 403: a master-user change needs the password
    BULK_PLAN_CHANGED = "bulk_plan_changed"  # 409: the rows changed between a bulk preview and its apply


class DomainError(Exception):
    """A refusal a person can act on. Views show `message` (and field errors inline); the API
    answers with `status` and a problem+json body carrying `code`."""

    status = 400
    code = ErrorCode.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        fields: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fields = fields or {}

    def problem(self) -> dict[str, object]:
        """The application/problem+json body for this refusal."""
        if self.fields:
            return problem_dict(self.status, self.code.value, self.message, errors=self.fields)
        return problem_dict(self.status, self.code.value, self.message)


class Invalid(DomainError):
    status = 422
    code = ErrorCode.VALIDATION

    @classmethod
    def field(cls, name: str, message: str, *, code: ErrorCode | None = None) -> Invalid:
        return cls(message, code=code, fields={name: [message]})


class NotFound(DomainError):
    status = 404
    code = ErrorCode.NOT_FOUND

    def __init__(self, what: str = "object") -> None:
        super().__init__(f"No such {what}.")


class Forbidden(DomainError):
    status = 403
    code = ErrorCode.PERMISSION_DENIED


class Conflict(DomainError):
    status = 409
    code = ErrorCode.CONFLICT


class NotConfirmed(TimeoutError):
    """A write handed to another thread (messaging's group commit) was not confirmed in time; it may still
    be written. Not a DomainError: that would say nothing was written, and the fast lane would hand the
    send to the full stack to try again. Declared here so that the API root answers it without importing
    messaging."""
