"""Generic pages. A list, detail, edit or confirm page is a short class over one of these, decorated with
`customer_view(...)` or `staff_view(...)` so what it needs stays on the page itself:

    @customer_view(Perm.MANAGE_OFFICES)
    class OfficeEdit(EditView[Office]):
        model = Office
        form_class = OfficeForm
        title = _("Edit %(name)s")
        ...

        def save(self, form, office): return services.save_office(..., actor=self.actor, ...)

Writes always call a service with `actor=`; a `DomainError` it raises goes beside the form's fields
(edit) or into a message (confirm). Nothing here calls `form.save()`.

Message, title and question templates are translatable strings whose `%(field)s` placeholders are
read from the object the page is about (`%(number.value)s` follows the attribute path)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import django_filters
import django_tables2 as tables
from django import forms
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from kontor.access.models import User
from kontor.access.requests import ScopedRequest, actor_of
from kontor.core.errors import DomainError, NotFound
from kontor.core.scope import Scope, get_scoped
from kontor.web.lists import Action, export_csv, form_errors_from, list_page

if TYPE_CHECKING:
    from django.utils.functional import _StrOrPromise as Text  # a str or a lazily translated one

T = TypeVar("T", bound=Model)
ViewFunction = Callable[..., HttpResponseBase]


class _Fields:
    """`%(name)s` and `%(number.value)s` in a message template read these attributes of the object."""

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __getitem__(self, path: str) -> Any:
        value = self.obj
        for name in path.split("."):
            value = getattr(value, name)
        return value


def fill(template: Text, obj: object) -> str:
    """The template (translated when it is a lazy string) with the object's fields in its placeholders."""
    return str(template) % _Fields(obj)


class Page(View):
    """Every generic page: the guard its class declares, its scope and its acting user."""

    # Set by @customer_view(...) or @staff_view(...) on the page class itself, never inherited.
    guard: ClassVar[Callable[[ViewFunction], ViewFunction]]

    @classmethod
    def as_view(cls, **initkwargs: Any) -> ViewFunction:
        if "guard" not in cls.__dict__:
            raise ImproperlyConfigured(f"{cls.__name__} declares no @customer_view or @staff_view.")
        # The guard answers first (sign in, 403), then the method (405), as on the function views.
        return cls.guard(super().as_view(**initkwargs))

    request: ScopedRequest  # customer pages; staff pages read only `actor`

    @property
    def scope(self) -> Scope:
        return self.request.scope

    @property
    def actor(self) -> User:
        return actor_of(self.request)


class ObjectPage(Page, Generic[T]):
    """A page about one row, named by the URL's `pk`: looked up in the caller's scope (404 when missing or
    another customer's), or, for the provider's catalogue (`catalogue = True`), among all rows."""

    model: ClassVar[type[Model]]
    catalogue: ClassVar[bool] = False
    not_found: ClassVar[str] = ""  # the "No such …" word; the model's verbose name by default

    def lookup(self, pk: Any, model: type[Model] | None = None) -> T:
        """The page's row (or one of `model`, e.g. the parent a new row is added to)."""
        model = model or self.model
        if not self.catalogue:
            found: T = get_scoped(self.scope, model, pk=pk)  # type: ignore[assignment]
            return found
        row = model._default_manager.filter(pk=pk).first()
        if row is None:
            raise NotFound((model is self.model and self.not_found) or str(model._meta.verbose_name))
        return row  # type: ignore[return-value]


# --- edit (add and change) -----------------------------------------------------------------------


class EditView(ObjectPage[T]):
    """Add a row (no `pk` in the URL) or change one: a form with the row's values, a service call on a
    valid POST, field errors from its refusal, a message and a redirect on success."""

    form_class: ClassVar[type[forms.Form]]
    template_name: ClassVar[str] = "web/form.html"
    title: ClassVar[Text] = ""  # of a change page, with the row's fields
    add_title: ClassVar[Text] = ""
    intro: ClassVar[Text] = ""
    submit: ClassVar[Text] = ""  # the button; the template says "Save" when empty
    success_message: ClassVar[Text] = ""  # with the fields of what the service returned
    success_url: ClassVar[str] = ""  # a URL name
    cancel_url: ClassVar[str] = ""  # a URL name; success_url when empty
    invalid_status: ClassVar[int] = 200  # the status of a page shown again with errors

    # --- what a declaration fills in

    def get_object(self) -> T | None:
        pk = self.kwargs.get("pk")
        return None if pk is None else self.lookup(pk)

    def get_initial(self, obj: T) -> dict[str, Any]:
        """The form's values for a row being changed."""
        return {}

    def get_add_initial(self) -> dict[str, Any] | None:
        """The form's values for a new row."""
        return None

    def get_form_kwargs(self, obj: T | None) -> dict[str, Any]:
        """Extra keyword arguments of the form (choices read in the caller's scope)."""
        return {}

    def save(self, form: Any, obj: T | None) -> Any:
        """Call the service; return what the success message and URL are about."""
        raise NotImplementedError

    def get_title(self, obj: T | None) -> str:
        return fill(self.title, obj) if obj is not None else str(self.add_title)

    def get_intro(self, obj: T | None) -> str:
        return str(self.intro)

    def get_success_url(self, saved: Any) -> str:
        return reverse(self.success_url)

    def get_cancel_url(self, obj: T | None) -> str:
        return reverse(self.cancel_url or self.success_url)

    def get_context(self, form: Any, obj: T | None) -> dict[str, Any]:
        return {
            "form": form,
            "title": self.get_title(obj),
            "intro": self.get_intro(obj),
            "submit": str(self.submit),
            "cancel_url": self.get_cancel_url(obj),
        }

    def status(self, form: Any, refusal: DomainError | None) -> int:
        return self.invalid_status if form.errors else 200

    def get_success_message(self, saved: Any) -> str:
        return fill(self.success_message, saved)

    def done(self, saved: Any) -> HttpResponseBase:
        messages.success(self.request, self.get_success_message(saved))
        return redirect(self.get_success_url(saved))

    # --- the flow

    def make_form(self, obj: T | None) -> Any:
        initial = self.get_initial(obj) if obj is not None else self.get_add_initial()
        extra = self.get_form_kwargs(obj)
        if self.request.FILES:
            extra["files"] = self.request.FILES
        # An empty POST leaves the form unbound, as `request.POST or None` always did.
        return self.form_class(self.request.POST or None, initial=initial, **extra)

    def render_form(self, form: Any, obj: T | None, status: int = 200) -> HttpResponse:
        return render(self.request, self.template_name, self.get_context(form, obj), status=status)

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        obj = self.get_object()
        return self.render_form(self.make_form(obj), obj)

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        obj = self.get_object()
        form = self.make_form(obj)
        refusal: DomainError | None = None
        if form.is_valid():
            try:
                saved = self.save(form, obj)
            except DomainError as exc:
                refusal = exc
                form_errors_from(form, exc)
            else:
                return self.done(saved)
        return self.render_form(form, obj, self.status(form, refusal))


# --- confirm (delete, revoke, approve, …) --------------------------------------------------------


class ConfirmView(ObjectPage[T]):
    """GET asks the question (web/confirm.html); POST calls the service, says what happened and goes to
    `done_url`. A refusal becomes an error message."""

    template_name: ClassVar[str] = "web/confirm.html"
    title: ClassVar[Text] = ""
    question: ClassVar[Text] = ""
    confirm_label: ClassVar[Text] = ""
    done_message: ClassVar[Text] = ""
    done_url: ClassVar[str] = ""  # a URL name
    cancel_url: ClassVar[str] = ""  # a URL name; done_url when empty

    def get_object(self) -> T:
        return self.lookup(self.kwargs["pk"])

    def act(self, obj: T) -> Any:
        """Call the service."""
        raise NotImplementedError

    def get_title(self, obj: T) -> str:
        return fill(self.title, obj)

    def get_question(self, obj: T) -> str:
        return fill(self.question, obj)

    def get_confirm_label(self, obj: T) -> str:
        return str(self.confirm_label)

    def get_details(self, obj: T) -> Sequence[str]:
        return ()

    def get_done_url(self, obj: T) -> str:
        return reverse(self.done_url)

    def get_cancel_url(self, obj: T) -> str:
        return reverse(self.cancel_url) if self.cancel_url else self.get_done_url(obj)

    def get_context(self, obj: T) -> dict[str, Any]:
        context: dict[str, Any] = {
            "title": self.get_title(obj),
            "question": self.get_question(obj),
            "confirm_label": self.get_confirm_label(obj),
            "cancel_url": self.get_cancel_url(obj),
        }
        details = self.get_details(obj)
        if details:
            context["details"] = details
        return context

    def get_done_message(self, obj: T, result: Any) -> str:
        return fill(self.done_message, obj)

    def done(self, obj: T, result: Any) -> HttpResponseBase:
        messages.success(self.request, self.get_done_message(obj, result))
        return redirect(self.get_done_url(obj))

    def refused(self, obj: T, exc: DomainError) -> HttpResponseBase:
        messages.error(self.request, exc.message)
        return redirect(self.get_done_url(obj))

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return render(request, self.template_name, self.get_context(self.get_object()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        obj = self.get_object()
        try:
            result = self.act(obj)
        except DomainError as exc:
            return self.refused(obj, exc)
        return self.done(obj, result)


class ActionView(ConfirmView[T]):
    """A button that acts at once (restore, enable): POST only, no question page."""

    http_method_names = ["post"]


# --- list and detail -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Link:
    """A button above a list: a URL name, shown only to a customer user holding `perm` when given."""

    label: Text
    url: str
    perm: str | None = None


class ListView(Page):
    """A filtered, sorted, paginated table (kontor.web.lists.list_page), with its buttons and CSV link."""

    title: ClassVar[Text] = ""
    intro: ClassVar[Text] = ""
    table_class: ClassVar[type[tables.Table]]
    filterset_class: ClassVar[type[django_filters.FilterSet] | None] = None
    actions: ClassVar[Sequence[Link]] = ()
    export_url: ClassVar[str] = ""  # a URL name: the CSV link above the table
    export_filename: ClassVar[str] = ""
    per_page: ClassVar[int] = 25
    template_name: ClassVar[str] = "web/list.html"
    # `as_view(export=True)` answers the same filtered rows as a CSV of the same Table, under the same
    # guard: the page and its download cannot drift apart.
    export: bool = False

    def get_queryset(self) -> QuerySet[Any]:
        raise NotImplementedError

    def get_title(self) -> str:
        return str(self.title)

    def get_intro(self) -> str:
        return str(self.intro)

    def get_actions(self) -> list[Action]:
        return [
            Action(str(link.label), reverse(link.url))
            for link in self.actions
            if link.perm is None or self.scope.has(link.perm)
        ]

    def get_extra(self) -> dict[str, Any] | None:
        return None

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.export:
            return export_csv(
                request,
                queryset=self.get_queryset(),
                filterset_class=self.filterset_class,
                table_class=self.table_class,
                filename=self.export_filename,
            )
        return list_page(
            request,
            title=self.get_title(),
            queryset=self.get_queryset(),
            table_class=self.table_class,
            filterset_class=self.filterset_class,
            actions=self.get_actions(),
            export_url=reverse(self.export_url) if self.export_url else None,
            intro=self.get_intro(),
            per_page=self.per_page,
            template=self.template_name,
            extra=self.get_extra(),
        )


class DetailView(ObjectPage[T]):
    """One row on its own template."""

    template_name: ClassVar[str]

    def get_object(self) -> T:
        return self.lookup(self.kwargs["pk"])

    def get_context(self, obj: T) -> dict[str, Any]:
        return {"object": obj}

    def get(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        return render(request, self.template_name, self.get_context(self.get_object()))

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # The row is looked up first, so another customer's id answers 404 whatever the method.
        self.get_object()
        return HttpResponseNotAllowed(["GET"])
