"""Schemas and helpers shared by every router: the problem body, pages of results, input hygiene,
and the renaming of a service's field errors to the names the API uses; then the customer API's
request and response schemas (tenancy and access), kept here so the routers stay short.

ninja names OpenAPI components after the class: a schema class name must be unique across every
router (a clash silently replaces one component with the other; the schemathesis test catches it)."""

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import UnionType
from typing import Any, ClassVar, Generic, Literal, TypeVar, Union, get_args, get_origin

from django.db.models import QuerySet
from ninja import Field, Schema
from pydantic import ConfigDict, ValidationInfo, field_validator

from kontor.core.errors import Invalid

T = TypeVar("T")

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# Offsets beyond this are refused rather than sent to the database, where they could overflow.
MAX_OFFSET = 1_000_000_000


# Appended to the description of every POST that takes an Idempotency-Key (kontor/core/idempotency.py).
IDEMPOTENCY_DOC = (
    " Send an `Idempotency-Key` header (1 to 100 characters) to make retries safe: the same key and body "
    "return the first response again, the same key with another body is 422 `idempotency_key_reused`. A retry "
    "sent while the first is still running waits for it and gets its answer (only a purchase whose card is "
    "being charged answers 409 `idempotency_key_in_flight`). Keys are kept at least 24 hours."
)


class Problem(Schema):
    """An error, as `application/problem+json` (RFC 9457) with a stable `code`."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    code: str = Field(..., description="Stable machine-readable error code, e.g. `permission_denied`.")
    errors: dict[str, list[str]] | None = Field(
        None, description="Field errors by field name (dotted for nested fields), on 422."
    )


def errors(*codes: int) -> dict[int, type[Problem]]:
    """Problem responses for the docs: 400 (a body that is not JSON), 401, 403 and 422 (bad input)
    can come from every operation; add the others it can give (404, 409)."""
    return {code: Problem for code in sorted({400, 401, 403, 422, *codes})}


def _check_text(value: Any) -> Any:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("Text may not contain NUL characters.")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("Text must be valid Unicode.") from None
    elif isinstance(value, list | tuple | set):
        for item in value:
            _check_text(item)
    return value


def _scalar_kind(annotation: Any) -> tuple[str, bool] | None:
    """("int" or "bool", whether it is a list of them) for a field typed int, bool, list[int],
    list[bool] (optional or not); None for any other type."""
    args = (
        [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) in (Union, UnionType)
        else [annotation]
    )
    if len(args) != 1:
        return None
    (kind,) = args
    is_list = get_origin(kind) is list
    if is_list:
        (kind,) = get_args(kind) or (None,)
    if kind is bool:
        return "bool", is_list
    if kind is int:
        return "int", is_list
    return None


def _check_scalar(kind: str, value: Any) -> Any:
    if value is None:
        return value
    if kind == "bool" and not isinstance(value, bool):
        raise ValueError("Must be true or false.")
    if kind == "int":
        # JSON Schema counts 3.0 as an integer (and JSON does not tell 3 from 3.0 apart); 1.5 is not.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("Must be a whole number, not true/false, a fraction or text.")
    return value


class Input(Schema):
    """A request body. Unknown fields are refused (a typo should not silently do nothing), and text
    the database cannot store (NUL, lone surrogates) is a field error, not a crash. Integers and
    booleans are strict: pydantic would take `true` as 1, `1.5` as 1 and `"5"` as 5, so an amount of
    `true` would move one credit; only what JSON Schema calls an integer (3 or 3.0) or a boolean is taken."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _strict(cls, value: Any, info: ValidationInfo) -> Any:
        field = cls.model_fields.get(info.field_name or "")
        found = _scalar_kind(field.annotation) if field is not None else None
        if found is None:
            return value
        kind, is_list = found
        if is_list and isinstance(value, list):
            return [_check_scalar(kind, item) for item in value]
        return _check_scalar(kind, value)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _check_text(value)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("The time is out of range.") from None


class PageQuery(Schema):
    """`limit` (1 to 200, default 50) and `offset` query parameters; filters extend this."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT}.")
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    @field_validator("*", mode="after")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, datetime):
            return _aware(value)
        return _check_text(value)


class Page(Schema, Generic[T]):
    items: list[T]
    count: int = Field(..., description="Rows matching the filters, over all pages.")
    limit: int
    offset: int


def page(qs: QuerySet[Any], query: PageQuery, render: Any) -> dict[str, Any]:
    """One page of `qs` as a Page body, each row passed through `render`."""
    rows = list(qs[query.offset : query.offset + query.limit])
    return {
        "items": [render(row) for row in rows],
        "count": qs.count(),
        "limit": query.limit,
        "offset": query.offset,
    }


@contextmanager
def field_names(mapping: Mapping[str, str]) -> Iterator[None]:
    """Services name fields after the model (`role`, `cost_center`); the API after the body (`role_id`).
    Re-raise a service's Invalid with the body's names so a client can place the error."""
    try:
        yield
    except Invalid as exc:
        if not exc.fields:
            raise
        renamed: dict[str, list[str]] = {}
        for name, messages in exc.fields.items():
            renamed.setdefault(mapping.get(name, name), []).extend(messages)
        raise Invalid(exc.message, code=exc.code, fields=renamed) from None


def collect(fields: dict[str, list[str]], message: str = "Please correct the errors below.") -> None:
    """Raise one Invalid naming every field in `fields`, if any."""
    if fields:
        raise Invalid(message, fields=fields)


# --- tenancy: the caller, accounts, cost centers, offices, teams, allowlist -------------------------


class CustomerInfo(Schema):
    subscriber_id: str
    name: str
    time_zone: str
    country: str
    credit_mode: str


class AccountRef(Schema):
    id: int
    name: str


class MeUser(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    is_master: bool


class MeKey(Schema):
    id: int
    name: str
    prefix: str


class MeOut(Schema):
    user: MeUser | None = Field(..., description="The signed-in user, or the API key's creator.")
    api_key: MeKey | None = Field(..., description="Set when the call is made with an API key.")
    customer: CustomerInfo
    account: AccountRef = Field(..., description="The current account (an API key's own account).")
    permissions: list[str]
    accounts: list[AccountRef] = Field(..., description="Accounts the caller can switch to.")


ColumnType = Literal["text", "number", "date", "email", "phone"]

# Declared where the service refuses repeats: a column name used twice, an account listed twice in
# memberships (the same item twice is the plainest case of either).
UNIQUE: dict[str, Any] = {"uniqueItems": True}


class ColumnIn(Input):
    name: str = Field(..., max_length=200)
    type: ColumnType = "text"


class ColumnOut(Schema):
    position: int
    name: str
    type: str


class CostCenterInfo(Schema):
    id: int
    code: str
    name: str
    shared: bool = Field(..., description="Offered to every customer, not only this one.")


class AccountDetail(Schema):
    id: int
    name: str
    status: str
    cost_center: CostCenterInfo | None
    office_hours_only: bool
    custom_columns: list[ColumnOut]
    archived_at: datetime | None
    created_at: datetime


class AccountMoNumber(Schema):
    id: int
    number: str


class AccountSaved(AccountDetail):
    warnings: list[str] = Field(..., description="Things to know, e.g. a cost center shared with others.")
    mo_number: AccountMoNumber | None = Field(
        ..., description="The account's MO number; null: the provider's default number, which cannot receive."
    )


MO_NUMBER_HELP = (
    "The account's MO number: the id of one of the customer's activated numbers (GET /numbers). "
    "Absent or null: the provider's default number, which cannot receive messages or replies."
)


class AccountIn(Input):
    name: str = Field(..., max_length=1000)
    cost_center_id: int | None = None
    office_hours_only: bool = False
    custom_columns: list[ColumnIn] = Field(default_factory=list, max_length=50, json_schema_extra=UNIQUE)
    mo_number_id: int | None = Field(None, ge=1, le=2**63 - 1, strict=True, description=MO_NUMBER_HELP)


class AccountPatch(Input):
    name: str | None = Field(None, max_length=1000)
    cost_center_id: int | None = Field(None, description="null removes the cost center.")
    office_hours_only: bool | None = None
    custom_columns: list[ColumnIn] | None = Field(
        None,
        max_length=50,
        json_schema_extra=UNIQUE,
        description="Replaces the list; columns keep their data by name. A removed column's values are kept "
        "30 days (adding a column of that name again brings them back); a change that would hide or clear "
        "contact values answers 409 `column_data_at_risk` with the counts unless `confirm_column_changes`.",
    )
    confirm_column_changes: bool = Field(
        False, strict=True, description="Go ahead with a column change that hides or clears contact values."
    )
    mo_number_id: int | None = Field(
        None,
        ge=1,
        le=2**63 - 1,
        strict=True,
        description="Change the MO number; null: back to the provider's default number.",
    )


class AccountFilters(PageQuery):
    """The accounts page's filters (kontor/tenancy/filters.py), by the same names."""

    aliases: ClassVar[dict[str, str]] = {"q": "name"}

    name: str | None = Field(None, max_length=200, description="Part of the name.")
    status: Literal["active", "archived"] | None = None
    q: str | None = Field(None, max_length=200, deprecated=True, description="Deprecated: use `name`.")


class HeldOut(Schema):
    what: str
    count: int


class ArchivedOut(Schema):
    archived: bool
    held: list[HeldOut] = Field(..., description="What the account holds, which is why it was kept.")


class OfficeOut(Schema):
    id: int
    name: str
    address: str


class OfficeIn(Input):
    name: str = Field(..., max_length=1000)
    address: str = Field("", max_length=2000)


class OfficePatch(Input):
    name: str | None = Field(None, max_length=1000)
    address: str | None = Field(None, max_length=2000)


class NameFilters(PageQuery):
    q: str | None = Field(None, max_length=200, description="Part of the name.")


class TeamOut(Schema):
    id: int
    name: str
    office: OfficeOut | None


class TeamIn(Input):
    name: str = Field(..., max_length=1000)
    office_id: int | None = None


class TeamPatch(Input):
    name: str | None = Field(None, max_length=1000)
    office_id: int | None = Field(None, description="null: the team belongs to no office.")


class AllowlistOut(Schema):
    entries: list[str] = Field(..., description="Addresses and CIDR subnets (IPv4, IPv6); empty: anywhere.")
    your_address: str | None = Field(..., description="The address this request came from.")


class AllowlistIn(Input):
    entries: list[str] = Field(..., max_length=1000)
    confirm_lockout: bool = Field(
        False, description="Save even though the list leaves out the address this request comes from."
    )


# --- access: users, memberships, roles, permissions, API keys ---------------------------------


class MembershipOut(Schema):
    account_id: int
    account_name: str
    role_id: int
    role_name: str


class UserOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    phone: str = Field(..., description="E.164, or empty.")
    time_zone: str
    is_master: bool
    is_active: bool
    primary_office_id: int | None
    additional_office_ids: list[int]
    team_id: int | None
    memberships: list[MembershipOut]
    date_joined: datetime


class MembershipIn(Input):
    account_id: int
    role_id: int


CURRENT_PASSWORD = Field(
    None,
    max_length=1000,
    description=(
        "Your own password, from a signed-in session, to create a master user, grant or remove master "
        "rights or change another master's email (403 `reauthentication_required` without it). API keys "
        "can never make these changes."
    ),
)


class UserIn(Input):
    first_name: str = Field(..., max_length=1000)
    last_name: str = Field(..., max_length=1000)
    email: str = Field(..., max_length=1000, description="The login; unique, case-insensitive.")
    phone: str = Field("", max_length=100, description="Any common form; stored in E.164.")
    time_zone: str | None = Field(None, max_length=100, description="IANA zone; the customer's if absent.")
    is_master: bool = False
    primary_office_id: int | None = None
    additional_office_ids: list[int] = Field(default_factory=list, max_length=100)
    team_id: int | None = None
    memberships: list[MembershipIn] = Field(default_factory=list, max_length=100, json_schema_extra=UNIQUE)
    current_password: str | None = CURRENT_PASSWORD


class UserPatch(Input):
    first_name: str | None = Field(None, max_length=1000)
    last_name: str | None = Field(None, max_length=1000)
    email: str | None = Field(None, max_length=1000)
    phone: str | None = Field(None, max_length=100)
    time_zone: str | None = Field(None, max_length=100)
    is_master: bool | None = None
    primary_office_id: int | None = Field(None, description="null: no primary office.")
    additional_office_ids: list[int] | None = Field(None, max_length=100)
    team_id: int | None = Field(None, description="null: no team.")
    current_password: str | None = CURRENT_PASSWORD


class Reauth(Input):
    current_password: str | None = Field(
        None,
        max_length=1000,
        description="Your own password, from a signed-in session, to enable or disable another master user.",
    )


class UserFilters(PageQuery):
    q: str | None = Field(None, max_length=200, description="Part of the name or email.")
    active: bool | None = None
    account_id: int | None = Field(None, ge=1, le=2**63 - 1, description="Members of this account.")
    role_id: int | None = Field(None, ge=1, le=2**63 - 1, description="Having this role somewhere.")


class RoleRef(Input):
    role_id: int


class PermOut(Schema):
    value: str
    label: str


class RoleOut(Schema):
    id: int
    name: str
    slug: str = Field(..., description="Set on built-in roles only.")
    description: str
    perms: list[str]
    builtin: bool


class RoleIn(Input):
    name: str = Field(..., max_length=1000)
    perms: list[str] = Field(..., min_length=1, max_length=200)
    description: str = Field("", max_length=1000)


class RolePatch(Input):
    name: str | None = Field(None, max_length=1000)
    perms: list[str] | None = Field(None, max_length=200)
    description: str | None = Field(None, max_length=1000)


class ApiKeyOut(Schema):
    id: int
    name: str
    prefix: str
    perms: list[str]
    created_by: str | None = Field(..., description="Email of the user who created it.")
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(..., description="The key itself. Shown this once; only its hash is kept.")


class ApiKeyIn(Input):
    name: str = Field(..., max_length=1000)
    perms: list[str] = Field(..., min_length=1, max_length=200)
