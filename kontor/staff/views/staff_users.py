"""Provider staff users: list, add (a welcome email goes out), enable and disable."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kontor.access.models import User
from kontor.access.perms import Perm
from kontor.access.services import create_staff_user, set_user_active
from kontor.core.errors import NotFound
from kontor.staff.forms import StaffUserForm
from kontor.staff.tables import StaffUserTable
from kontor.web.decorators import staff_view
from kontor.web.generic import ConfirmView, EditView, Link, ListView


def _staff_users() -> QuerySet[User]:
    # Staff users belong to no customer, so they are not tenant rows: the provider sees them all.
    return User.objects.filter(is_staff=True, customer__isnull=True)


@staff_view(Perm.STAFF_MANAGE_STAFF)
class StaffUserList(ListView):
    title = _("Staff users")
    table_class = StaffUserTable
    actions = [Link(_("Add staff user"), "staff:staff_user_add")]
    intro = _("Provider staff and their roles: CSR, technical account manager, billing, administrator.")

    def get_queryset(self) -> QuerySet[User]:
        return _staff_users().order_by("last_name", "first_name", "email")


@staff_view(Perm.STAFF_MANAGE_STAFF)
class StaffUserAdd(EditView[User]):
    form_class = StaffUserForm
    add_title = _("Add staff user")
    submit = _("Add")
    success_message = _("Staff user added. A welcome email was sent to %(email)s.")
    success_url = "staff:staff_users"

    def save(self, form: StaffUserForm, user: User | None) -> User:
        return create_staff_user(actor=self.actor, **form.cleaned_data)


@staff_view(Perm.STAFF_MANAGE_STAFF)
class StaffUserActive(ConfirmView[User]):
    """GET asks for confirmation; POST flips enabled/disabled (disabling ends their sessions)."""

    done_url = "staff:staff_users"

    def get_object(self) -> User:
        user = _staff_users().filter(pk=self.kwargs["pk"]).first()
        if user is None:
            raise NotFound("staff user")
        return user

    def get_title(self, user: User) -> str:
        return gettext("Enable staff user") if not user.is_active else gettext("Disable staff user")

    def get_question(self, user: User) -> str:
        if not user.is_active:
            return gettext("Enable %(email)s again? They can sign in with their password.") % {"email": user.email}
        return gettext("Disable %(email)s? They are signed out at once and cannot sign in until enabled again.") % {
            "email": user.email
        }

    def get_confirm_label(self, user: User) -> str:
        return gettext("Enable") if not user.is_active else gettext("Disable")

    def act(self, user: User) -> bool:
        enable = not user.is_active
        set_user_active(user, enable, actor=self.actor)
        return enable

    def get_done_message(self, user: User, enabled: bool) -> str:
        message = gettext("%(email)s is now enabled.") if enabled else gettext("%(email)s is now disabled.")
        return message % {"email": user.email}
