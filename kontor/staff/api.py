"""The provider staff API (`/api/v1/staff/...`): session of a staff user only; customer users and API
keys get 403. Lists use the same FilterSets as the staff pages."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Status

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.requests import StaffRequest
from kontor.access.selectors import staff_scope
from kontor.access.services import onboard_enterprise, verify_caller
from kontor.api.filtering import filtered
from kontor.api.permissions import requires_staff
from kontor.api.schemas import Page, PageQuery, errors, page
from kontor.audit.models import AuditEntry
from kontor.core.errors import Invalid, NotFound
from kontor.core.scope import Scope, get_scoped, scoped
from kontor.staff.filters import AuditFilter, CustomerFilter
from kontor.staff.schemas import (
    AllowlistClearQuery,
    AuditOut,
    AuditQuery,
    CostCenterIn,
    CostCenterOut,
    CreditModeIn,
    CustomerDetailOut,
    CustomerOut,
    CustomerPatch,
    CustomerQuery,
    FeatureIn,
    FeatureOut,
    FeaturesIn,
    OnboardIn,
    OnboardOut,
    StaffAllowlistOut,
    VerifyCallerIn,
    VerifyCallerOut,
)
from kontor.staff.selectors import customers_with_master
from kontor.staff.services import clear_ip_allowlist, master_emails
from kontor.tenancy.models import Account, CostCenter, Customer, Feature
from kontor.tenancy.services import save_cost_center, save_feature, set_credit_mode, set_features, update_customer

router = Router(tags=["staff"])


def _customer(pk: int) -> Customer:
    customer = customers_with_master().filter(pk=pk).first()
    if customer is None:
        raise NotFound("customer")
    return customer


def _customer_out(customer: Customer) -> dict[str, Any]:
    return {
        "id": customer.pk,
        "subscriber_id": customer.subscriber_id,
        "name": customer.name,
        "billing_id": customer.billing_id,
        "time_zone": customer.time_zone,
        "country": customer.country,
        "status": customer.status,
        "credit_mode": customer.credit_mode,
        "ip_allowlist": list(customer.ip_allowlist or []),
        "features": sorted(f.code for f in customer.features.all()),
        "master_email": getattr(customer, "master_email", None),
        "created_at": customer.created_at,
    }


def _detail_out(customer: Customer, scope: Scope) -> dict[str, Any]:
    accounts = scoped(scope, Account).select_related("cost_center").order_by("name")
    users = scoped(scope, User).order_by("-is_master", "email")
    return {
        **_customer_out(customer),
        "accounts": [
            {
                "id": a.pk,
                "name": a.name,
                "cost_center": a.cost_center.code if a.cost_center else None,
                "office_hours_only": a.office_hours_only,
                "status": a.status,
            }
            for a in accounts
        ],
        "users": [
            {
                "id": u.pk,
                "email": u.email,
                "first_name": u.first_name,
                "last_name": u.last_name,
                "is_master": u.is_master,
                "is_active": u.is_active,
                "welcome_completed": u.has_usable_password() and u.has_pin,
                "security_question": u.security_question,
            }
            for u in users
        ],
    }


# --- customers -----------------------------------------------------------------------------------


@router.get("/customers", response={200: Page[CustomerOut], **errors(422)}, operation_id="staff_list_customers")
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
def list_customers(request: StaffRequest, query: Query[CustomerQuery]) -> dict[str, Any]:
    """Subscriber lookup: search and filter customers."""
    qs = filtered(request, CustomerFilter, customers_with_master().prefetch_related("features"), query)
    return page(qs, query, _customer_out)


@router.get(
    "/customers/{int:customer_id}",
    response={200: CustomerDetailOut, **errors(404)},
    operation_id="staff_get_customer",
)
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
def get_customer(request: StaffRequest, customer_id: int) -> dict[str, Any]:
    actor = request.user
    customer = _customer(customer_id)
    return _detail_out(customer, staff_scope(actor, customer))


@router.post("/customers", response={201: OnboardOut, **errors(422)}, operation_id="staff_onboard_customer")
@requires_staff(Perm.STAFF_ONBOARD)
def onboard_customer(request: StaffRequest, payload: OnboardIn) -> Status:
    """Add Enterprise Account: the customer, its "Main" account and master user; a welcome email goes out."""
    actor = request.user
    done = onboard_enterprise(actor=actor, **payload.dict())
    return Status(
        201,
        {
            "customer_id": done.customer.pk,
            "subscriber_id": done.customer.subscriber_id,
            "master_user_id": done.master.pk,
            "account_id": done.account.pk,
        },
    )


@router.patch(
    "/customers/{int:customer_id}",
    response={200: CustomerOut, **errors(404, 422)},
    operation_id="staff_update_customer",
)
@requires_staff(Perm.STAFF_MANAGE_CUSTOMERS)
def patch_customer(request: StaffRequest, customer_id: int, payload: CustomerPatch) -> dict[str, Any]:
    actor = request.user
    customer = _customer(customer_id)
    update_customer(customer, actor=actor, **payload.dict(exclude_unset=True))
    return _customer_out(_customer(customer_id))


@router.put(
    "/customers/{int:customer_id}/features",
    response={200: CustomerOut, **errors(404, 422)},
    operation_id="staff_set_customer_features",
)
@requires_staff(Perm.STAFF_MANAGE_FEATURES)
def put_features(request: StaffRequest, customer_id: int, payload: FeaturesIn) -> dict[str, Any]:
    """Replace the customer's enabled features with exactly these codes."""
    actor = request.user
    customer = _customer(customer_id)
    set_features(customer, payload.features, actor=actor)
    return _customer_out(_customer(customer_id))


@router.put(
    "/customers/{int:customer_id}/credit-mode",
    response={200: CustomerOut, **errors(404, 422)},
    operation_id="staff_set_credit_mode",
)
@requires_staff(Perm.STAFF_MANAGE_BILLING)
def put_credit_mode(request: StaffRequest, customer_id: int, payload: CreditModeIn) -> dict[str, Any]:
    actor = request.user
    customer = _customer(customer_id)
    set_credit_mode(customer, payload.credit_mode, actor=actor)
    return _customer_out(_customer(customer_id))


def _allowlist_out(customer: Customer) -> dict[str, Any]:
    return {"entries": list(customer.ip_allowlist or []), "master_emails": master_emails(customer)}


@router.get(
    "/customers/{int:customer_id}/ip-allowlist",
    response={200: StaffAllowlistOut, **errors(404)},
    operation_id="staff_get_ip_allowlist",
)
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS)
def get_ip_allowlist(request: StaffRequest, customer_id: int) -> dict[str, Any]:
    """The customer's IP allowlist and who would be told if it were cleared."""
    return _allowlist_out(_customer(customer_id))


@router.delete(
    "/customers/{int:customer_id}/ip-allowlist",
    response={200: StaffAllowlistOut, **errors(404, 422)},
    operation_id="staff_clear_ip_allowlist",
)
@requires_staff(Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_ALLOWLIST)
def delete_ip_allowlist(request: StaffRequest, customer_id: int, query: Query[AllowlistClearQuery]) -> dict[str, Any]:
    """Clear the allowlist (`staff.manage_allowlist`), lifting a lock-out: the customer's users may sign in
    from any address again. Audited, and mailed to the master users on commit; clearing an empty list
    changes nothing and sends nothing."""
    actor = request.user
    customer = _customer(customer_id)
    clear_ip_allowlist(customer, actor=actor, reason=query.reason)
    return _allowlist_out(_customer(customer_id))


@router.post(
    "/customers/{int:customer_id}/verify-caller",
    response={200: VerifyCallerOut, **errors(404, 409, 422)},
    operation_id="staff_verify_caller",
)
@requires_staff(Perm.STAFF_VERIFY_CALLER)
def post_verify_caller(request: StaffRequest, customer_id: int, payload: VerifyCallerIn) -> dict[str, bool]:
    """Does the caller's PIN or security answer match? Neither stored value is ever returned."""
    actor = request.user
    customer = _customer(customer_id)
    pin, answer = payload.pin.strip(), payload.answer.strip()
    if pin and answer:
        raise Invalid("Send either a PIN or a security answer, not both.", fields={"pin": ["Send one only."]})
    caller = get_scoped(staff_scope(actor, customer), User, pk=payload.user_id)
    return {"matched": verify_caller(caller, actor=actor, pin=pin, answer=answer)}


# --- catalogue -----------------------------------------------------------------------------------


def _cost_center_out(obj: CostCenter) -> dict[str, Any]:
    return {"id": obj.pk, "code": obj.code, "name": obj.name, "customer_id": obj.customer_id}


def _feature_out(obj: Feature) -> dict[str, Any]:
    return {"id": obj.pk, "code": obj.code, "name": obj.name, "description": obj.description}


@router.get(
    "/cost-centers",
    response={200: Page[CostCenterOut], **errors(422)},
    operation_id="staff_list_cost_centers",
)
@requires_staff(Perm.STAFF_MANAGE_COST_CENTERS)
def list_cost_centers(request: StaffRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return page(CostCenter.objects.order_by("code"), query, _cost_center_out)


@router.post("/cost-centers", response={201: CostCenterOut, **errors(422)}, operation_id="staff_create_cost_center")
@requires_staff(Perm.STAFF_MANAGE_COST_CENTERS)
def create_cost_center(request: StaffRequest, payload: CostCenterIn) -> Status:
    actor = request.user
    customer = None
    if payload.customer_id is not None:
        customer = Customer.objects.filter(pk=payload.customer_id).first()
        if customer is None:
            raise Invalid.field("customer_id", "No such customer.")
    obj = save_cost_center(None, actor=actor, code=payload.code, name=payload.name, customer=customer)
    return Status(201, _cost_center_out(obj))


@router.get("/features", response={200: Page[FeatureOut], **errors(422)}, operation_id="staff_list_features")
@requires_staff(Perm.STAFF_MANAGE_FEATURES)
def list_features(request: StaffRequest, query: Query[PageQuery]) -> dict[str, Any]:
    return page(Feature.objects.order_by("name"), query, _feature_out)


@router.post("/features", response={201: FeatureOut, **errors(422)}, operation_id="staff_create_feature")
@requires_staff(Perm.STAFF_MANAGE_FEATURES)
def create_feature(request: StaffRequest, payload: FeatureIn) -> Status:
    actor = request.user
    feature = save_feature(None, actor=actor, code=payload.code, name=payload.name, description=payload.description)
    return Status(201, _feature_out(feature))


# --- audit ---------------------------------------------------------------------------------------


@router.get("/audit", response={200: Page[AuditOut], **errors(422)}, operation_id="staff_list_audit")
@requires_staff(Perm.STAFF_VIEW_AUDIT)
def list_audit(request: StaffRequest, query: Query[AuditQuery]) -> dict[str, Any]:
    """Every customer's and the provider's audit entries, newest first."""
    qs = filtered(request, AuditFilter, AuditEntry.objects.order_by("-created_at", "-id"), query)
    return page(qs, query, lambda entry: entry)
