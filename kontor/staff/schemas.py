"""Input and output schemas of the staff API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

MAX_LIMIT = 200


class PageQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_LIMIT, description=f"At most {MAX_LIMIT}.")
    offset: int = Field(0, ge=0)


class CustomerQuery(PageQuery):
    q: str = Field("", description="Email or name of any user, company name, subscriber ID or billing ID.")
    status: str = ""
    country: str = ""


class AuditQuery(PageQuery):
    customer: str = Field("", description="Subscriber ID (S000012) or customer id.")
    action: str = Field("", description="Actions starting with this, e.g. `customer.`.")
    actor: str = Field("", description="Part of the actor's email.")
    object_type: str = ""
    date_from: date | None = None
    date_to: date | None = None


class CustomerOut(Schema):
    id: int
    subscriber_id: str
    name: str
    billing_id: str
    time_zone: str
    country: str
    status: str
    credit_mode: str
    ip_allowlist: list[str]
    features: list[str]
    master_email: str | None
    created_at: datetime


class AccountOut(Schema):
    id: int
    name: str
    cost_center: str | None
    office_hours_only: bool
    status: str


class CustomerUserOut(Schema):
    id: int
    email: str
    first_name: str
    last_name: str
    is_master: bool
    is_active: bool
    welcome_completed: bool
    security_question: str


class CustomerDetailOut(CustomerOut):
    accounts: list[AccountOut]
    users: list[CustomerUserOut]


class CustomerPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[CustomerOut]


class OnboardIn(Schema):
    """The "Add Enterprise Account" fields; the service reports every missing or bad one at once."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = Field("", description="Contact phone (E.164), not a DNIS.")
    time_zone: str = "Europe/Stockholm"
    billing_id: str = Field("", description='Required; any value such as "not_used" is accepted.')
    company_name: str = ""
    country: str = "SE"


class OnboardOut(Schema):
    customer_id: int
    subscriber_id: str
    master_user_id: int
    account_id: int


class CustomerPatch(Schema):
    name: str | None = None
    billing_id: str | None = None
    time_zone: str | None = None
    country: str | None = None
    status: str | None = None


class FeaturesIn(Schema):
    features: list[str] = Field(..., description="Codes of every feature the customer should have.")


class CreditModeIn(Schema):
    credit_mode: str = Field(..., description="`pool` or `individual`.")


class VerifyCallerIn(Schema):
    user_id: int
    pin: str = ""
    answer: str = ""


class VerifyCallerOut(Schema):
    matched: bool


class CostCenterIn(Schema):
    code: str
    name: str
    customer_id: int | None = None


class CostCenterOut(Schema):
    id: int
    code: str
    name: str
    customer_id: int | None


class CostCenterPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[CostCenterOut]


class FeatureIn(Schema):
    code: str
    name: str
    description: str = ""


class FeatureOut(Schema):
    id: int
    code: str
    name: str
    description: str


class FeaturePage(Schema):
    count: int
    limit: int
    offset: int
    items: list[FeatureOut]


class AuditOut(Schema):
    id: int
    created_at: datetime
    customer_id: int | None
    account_id: int | None
    actor_label: str
    action: str
    object_type: str
    object_id: str
    object_repr: str
    before: Any = None
    after: Any = None
    source: str
    request_id: str
    ip: str | None


class AuditPage(Schema):
    count: int
    limit: int
    offset: int
    items: list[AuditOut]
