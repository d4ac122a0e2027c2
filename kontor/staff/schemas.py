"""Input and output schemas of the staff API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Field, Schema

from kontor.api.schemas import Input, PageQuery


class CustomerQuery(PageQuery):
    q: str = Field(
        "", max_length=200, description="Email or name of any user, company name, subscriber ID or billing ID."
    )
    status: str = Field("", max_length=16)
    country: str = Field("", max_length=2)


class AuditQuery(PageQuery):
    customer: str = Field("", max_length=20, description="Subscriber ID (S000012) or customer id.")
    action: str = Field("", max_length=64, description="Actions starting with this, e.g. `customer.`.")
    actor: str = Field("", max_length=254, description="Part of the actor's email.")
    object_type: str = Field("", max_length=64)
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


class OnboardIn(Input):
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


class CustomerPatch(Input):
    name: str | None = None
    billing_id: str | None = None
    time_zone: str | None = None
    country: str | None = None
    status: str | None = None


class FeaturesIn(Input):
    features: list[str] = Field(..., description="Codes of every feature the customer should have.")


class CreditModeIn(Input):
    credit_mode: str = Field(..., description="`pool` or `individual`.")


class VerifyCallerIn(Input):
    user_id: int
    pin: str = ""
    answer: str = ""


class VerifyCallerOut(Schema):
    matched: bool


class StaffAllowlistOut(Schema):
    entries: list[str] = Field(..., description="Networks the customer's users and keys may come from; empty: any.")
    master_emails: list[str] = Field(..., description="The active master users, who are mailed when staff clear it.")


class AllowlistClearQuery(Schema):
    reason: str = Field("", max_length=200, description="Recorded in the audit log and sent to the master users.")


class CostCenterIn(Input):
    code: str
    name: str
    customer_id: int | None = None


class CostCenterOut(Schema):
    id: int
    code: str
    name: str
    customer_id: int | None


class FeatureIn(Input):
    code: str
    name: str
    description: str = ""


class FeatureOut(Schema):
    id: int
    code: str
    name: str
    description: str


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
