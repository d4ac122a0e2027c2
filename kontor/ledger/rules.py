"""Who may see, buy for and move which credits: manual 001 ("Individual User SMS Credits") word for
word, plus the account-pool mode. Pure decisions over already-loaded users; services enforce them."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db.models import Q, QuerySet

from kontor.access.models import Role, User
from kontor.access.perms import Perm
from kontor.core.errors import Forbidden
from kontor.tenancy.models import Account, CreditMode, Customer, Membership


def send_sms_role_ids(customer: Customer) -> list[int]:
    roles = Role.objects.filter(Q(customer__isnull=True) | Q(customer=customer))
    return [r.pk for r in roles if Perm.SEND_SMS in r.perm_set]


def send_sms_users(customer: Customer) -> QuerySet[User]:
    """Active users with 'Send SMS' (in at least one active account; master users always)."""
    return (
        User.objects.filter(customer=customer, is_active=True)
        .filter(
            Q(is_master=True)
            | Q(
                memberships__role_id__in=send_sms_role_ids(customer),
                memberships__account__status=Account.Status.ACTIVE,
            )
        )
        .distinct()
    )


def _holds(user: User, perm: Perm) -> bool:
    """`perm` through a role in any active account (one query)."""
    roles = Membership.objects.filter(user=user, account__status=Account.Status.ACTIVE).values_list(
        "role__perms", flat=True
    )
    return any(perm.value in (perms or ()) for perms in roles)


def can_send_sms(user: User) -> bool:
    if user.customer_id is None or not user.is_active:
        return False
    return user.is_master or _holds(user, Perm.SEND_SMS)


def send_sms_user_ids(user_ids: Iterable[int]) -> set[int]:
    """Which of these users have 'Send SMS' now, in two queries however many (for batches)."""
    ids = set(user_ids)
    if not ids:
        return set()
    eligible = set(User.objects.filter(pk__in=ids, is_master=True, is_active=True).values_list("pk", flat=True))
    rows = Membership.objects.filter(
        user_id__in=ids - eligible, user__is_active=True, account__status=Account.Status.ACTIVE
    ).values_list("user_id", "role__perms")
    eligible |= {user_id for user_id, perms in rows if Perm.SEND_SMS.value in (perms or ())}
    return eligible


def manages_office_credits(user: User) -> bool:
    """'Manage Office SMS Credits' in any of the user's accounts."""
    if user.is_master or user.customer is None:
        return user.is_master
    return _holds(user, Perm.MANAGE_OFFICE_CREDITS)


# Any one of these lets a person open "Manage SMS Credits" (manual 003: support may only search by mobile
# number, technicians only do technical work, so neither sees anyone's balance).
CREDIT_PERMS: tuple[Perm, ...] = (Perm.VIEW_CREDITS, Perm.SEND_SMS, Perm.MANAGE_OFFICE_CREDITS)


def sees_credits(user: User) -> bool:
    """Master users, and users holding a credit permission in an active account."""
    if user.customer_id is None or not user.is_active:
        return False
    if user.is_master:
        return True
    roles = Membership.objects.filter(user=user, account__status=Account.Status.ACTIVE).values_list(
        "role__perms", flat=True
    )
    return any(p.value in (perms or ()) for perms in roles for p in CREDIT_PERMS)


def _office_q(office_ids: set[int]) -> Q:
    return Q(primary_office_id__in=office_ids) | Q(additional_offices__id__in=office_ids)


@dataclass(frozen=True)
class CreditView:
    """What one person sees in "Manage SMS Credits" (manual 001, step 2)."""

    system: bool  # the system / unallocated credits
    users: list[User]
    office_manager: bool

    @property
    def user_ids(self) -> set[int]:
        return {u.pk for u in self.users}


def credit_view(actor: User) -> CreditView:
    customer = actor.customer
    if customer is None:
        return CreditView(system=False, users=[], office_manager=False)
    senders = send_sms_users(customer)
    if actor.is_master:
        # Master users: system credits plus every staff member with 'Send SMS'.
        return CreditView(system=True, users=list(senders.order_by("last_name", "first_name")), office_manager=False)
    if manages_office_credits(actor):
        # 'Manage Office SMS Credits': no system credits, the 'Send SMS' users of their offices.
        users = senders.filter(_office_q(actor.office_ids)).distinct() if actor.office_ids else senders.none()
        return CreditView(system=False, users=list(users.order_by("last_name", "first_name")), office_manager=True)
    if not sees_credits(actor):
        # Without any credit permission a team is no business of theirs (support, technicians).
        return CreditView(system=False, users=[], office_manager=False)
    # Everyone else: themselves plus the members of their team with 'Send SMS'.
    team_q = Q(team_id=actor.team_id) if actor.team_id else Q(pk__in=[])
    users = senders.filter(team_q | Q(pk=actor.pk)).distinct()
    return CreditView(system=False, users=list(users.order_by("last_name", "first_name")), office_manager=False)


def _in_offices(actor: User, target: User) -> bool:
    return bool(actor.office_ids & target.office_ids)


def _team_member(actor: User, target: User) -> bool:
    return actor.team_id is not None and actor.team_id == target.team_id


def _individual(customer: Customer) -> None:
    if customer.credit_mode != CreditMode.INDIVIDUAL:
        raise Forbidden(
            "This customer uses account pools: credits belong to accounts, not to individual users. "
            "Ask your provider to switch to Individual User SMS Credits."
        )


def _check_recipient(target: User, senders: set[int] | None = None) -> None:
    if not target.is_active:
        raise Forbidden(f"{target} is not an active user; credits can only go to active users.")
    if not (target.pk in senders if senders is not None else can_send_sms(target)):
        raise Forbidden(f"{target} does not have 'Send SMS'; credits can only go to users who can send.")


def credit_user(user: object) -> User:
    """The signed-in person as a holder of SMS credits: a user of a customer (not provider staff)."""
    if not isinstance(user, User) or user.customer_id is None:
        raise Forbidden("Only users of a customer have SMS credits.")
    return user


def check_credit_caller(user: User, customer: Customer) -> None:
    """An API caller reads credits only as a user of the customer it acts on."""
    if user.customer_id != customer.pk:
        raise Forbidden("Only users of this customer have SMS credits.")


def check_credit_writer(perms_held: Callable[[str], bool]) -> None:
    """Buying and moving credits through the API: the caller (an API key included) must hold 'Send SMS'
    or 'Manage Office SMS Credits'; 'View SMS credits' alone only reads."""
    if not (perms_held(Perm.SEND_SMS) or perms_held(Perm.MANAGE_OFFICE_CREDITS)):
        raise Forbidden("Buying or moving credits needs 'Send SMS' or 'Manage Office SMS Credits'.")


def check_purchase_for_system(actor: User, customer: Customer) -> None:
    if not (actor.is_master and actor.customer_id == customer.pk):
        raise Forbidden("Only master users can purchase system credits.")


def _check_credit_actor(actor: User) -> None:
    """Buying or moving user credits is for master users, office credit managers and users who send."""
    if actor.is_master or manages_office_credits(actor) or can_send_sms(actor):
        return
    raise Forbidden("You need 'Send SMS' or 'Manage Office SMS Credits' to buy or transfer credits.")


def check_purchase_for_user(actor: User, target: User) -> None:
    customer = target.customer
    assert customer is not None
    if actor.customer_id != target.customer_id:
        raise Forbidden("No such user.")
    _individual(customer)
    _check_recipient(target)
    _check_credit_actor(actor)
    if actor.is_master or actor.pk == target.pk or _team_member(actor, target):
        return
    if manages_office_credits(actor) and _in_offices(actor, target):
        return
    raise Forbidden(
        f"You can buy credits for yourself and your team members"
        f"{' and the users of your offices' if manages_office_credits(actor) else ''}; {target} is neither."
    )


def check_user_to_user(actor: User, source: User, target: User, senders: set[int] | None = None) -> None:
    customer = target.customer
    assert customer is not None
    if not (actor.customer_id == source.customer_id == target.customer_id):
        raise Forbidden("No such user.")
    if source.pk == target.pk:
        raise Forbidden("Choose two different users.")
    _individual(customer)
    _check_recipient(target, senders)
    if actor.is_master:
        return
    _check_credit_actor(actor)
    if manages_office_credits(actor) and _in_offices(actor, source) and _in_offices(actor, target):
        return
    if source.pk == actor.pk and _team_member(actor, target):
        return
    if source.pk != actor.pk and _team_member(actor, source):
        raise Forbidden("You can transfer from your own credits to team members, never from a team member's.")
    raise Forbidden(f"You may not transfer credits from {source} to {target}.")


def check_system_transfer(actor: User, customer: Customer, user: User | None = None) -> None:
    """Moves between system credits and a user (or an account pool): master users only."""
    if not (actor.is_master and actor.customer_id == customer.pk):
        raise Forbidden("Only master users can move system (unallocated) credits.")
    if user is not None:
        _individual(customer)


def check_can_consume(user: User) -> None:
    if not can_send_sms(user):
        raise Forbidden(
            "You no longer have 'Send SMS', so your credits cannot be used until they are transferred to "
            "someone who can send."
        )
