"""Signing in and out, the welcome and password-reset links, password change and the own profile."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from kontor.access import services
from kontor.access.forms import (
    SUGGESTED_QUESTIONS,
    LoginForm,
    PasswordChangeForm,
    PasswordResetRequestForm,
    ProfileForm,
    SetPasswordForm,
    WelcomeForm,
)
from kontor.access.login import attempt_login, set_device_cookie
from kontor.access.models import OneTimeToken, User
from kontor.access.perms import StaffRole
from kontor.audit.services import record
from kontor.core.errors import DomainError, ErrorCode
from kontor.web.decorators import signed_in_view
from kontor.web.lists import form_errors_from

LINK_INVALID_STATUS = 410


def _safe_next(request: HttpRequest, target: str) -> str:
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("web:home")


def _sign_in(request: HttpRequest, user: User, target: str) -> HttpResponse:
    login(request, user, backend="kontor.access.backends.EmailBackend")  # new session key
    with transaction.atomic():
        record("user.login", user, actor=user, customer=user.customer_id)
    response = redirect(target)
    set_device_cookie(response, user.email)
    return response


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if request.user.is_authenticated:
        return redirect(_safe_next(request, target))
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = attempt_login(request, form.cleaned_data["email"], form.cleaned_data["password"])
        if result.user is not None:
            return _sign_in(request, result.user, _safe_next(request, target))
        form.add_error(None, result.error)
    return render(request, "access/login.html", {"form": form, "next": target})


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, "You have signed out.")
    return redirect("access:login")


def _link_invalid(request: HttpRequest, purpose: str) -> HttpResponse:
    return render(request, "access/link_invalid.html", {"purpose": purpose}, status=LINK_INVALID_STATUS)


@sensitive_post_parameters("password", "password2", "pin", "pin2", "answer")
@never_cache
@require_http_methods(["GET", "POST"])
def welcome(request: HttpRequest, token: str) -> HttpResponse:
    found = services.find_token(token, OneTimeToken.Purpose.WELCOME)
    if found is None:
        return _link_invalid(request, "welcome")
    form = WelcomeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.complete_welcome(
                token, password=data["password"], pin=data["pin"], question=data["question"], answer=data["answer"]
            )
        except DomainError as exc:
            if exc.code == ErrorCode.TOKEN_INVALID:
                return _link_invalid(request, "welcome")
            form_errors_from(form, exc)
        else:
            if request.user.is_authenticated:
                logout(request)
            messages.success(request, "Welcome to Kontor. Your password, PIN and security question are set.")
            return _sign_in(request, user, reverse("web:home"))
    return render(
        request,
        "access/welcome.html",
        {"form": form, "person": found.user, "questions": SUGGESTED_QUESTIONS},
    )


@never_cache
@require_http_methods(["GET", "POST"])
def password_reset(request: HttpRequest) -> HttpResponse:
    form = PasswordResetRequestForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        # The same page whether or not the address is known: nothing tells which emails exist.
        services.request_password_reset(form.cleaned_data["email"], ip=getattr(request, "client_ip", None))
        return render(
            request,
            "access/password_reset_sent.html",
            {"hours": settings.KONTOR_ONE_TIME_LINK_HOURS},
        )
    return render(
        request,
        "web/form.html",
        {
            "form": form,
            "title": "Reset your password",
            "intro": "Enter the email you sign in with. We will mail you a link to choose a new password.",
            "submit": "Send the link",
            "cancel_url": reverse("access:login"),
        },
    )


@sensitive_post_parameters("password", "password2")
@never_cache
@require_http_methods(["GET", "POST"])
def password_reset_confirm(request: HttpRequest, token: str) -> HttpResponse:
    if services.find_token(token, OneTimeToken.Purpose.RESET) is None:
        return _link_invalid(request, "reset")
    form = SetPasswordForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.reset_password(token, password=form.cleaned_data["password"])
        except DomainError as exc:
            if exc.code == ErrorCode.TOKEN_INVALID:
                return _link_invalid(request, "reset")
            form_errors_from(form, exc)
        else:
            if request.user.is_authenticated:
                logout(request)
            messages.success(request, "Your password has been changed. Sign in with the new one.")
            return redirect("access:login")
    return render(
        request,
        "web/form.html",
        {"form": form, "title": "Choose a new password", "submit": "Set password"},
    )


@sensitive_post_parameters("old_password", "new_password", "new_password2")
@signed_in_view
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.change_password(
                user,
                actor=user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except DomainError as exc:
            form_errors_from(form, exc)
        else:
            update_session_auth_hash(request, user)  # stay signed in here
            messages.success(request, "Your password has been changed.")
            return redirect("access:profile")
    return render(
        request,
        "web/form.html",
        {
            "form": form,
            "title": "Change password",
            "submit": "Change password",
            "cancel_url": reverse("access:profile"),
        },
    )


@signed_in_view
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    user = request.user
    assert isinstance(user, User)
    # Staff have no customer, and update_user edits customer users only: their profile is read-only.
    editable = user.customer_id is not None
    initial = {
        "first_name": user.first_name,
        "last_name": user.last_name,
        "phone": user.phone,
        "time_zone": user.time_zone,
    }
    form = ProfileForm(request.POST or None, initial=initial) if editable else None
    if request.method == "POST":
        if form is None:
            messages.error(request, "Staff profiles are changed by a staff administrator.")
            return redirect("access:profile")
        if form.is_valid():
            try:
                services.update_user(user, actor=user, **form.cleaned_data)
            except DomainError as exc:
                form_errors_from(form, exc)
            else:
                messages.success(request, "Your profile has been saved.")
                return redirect("access:profile")
    memberships = user.memberships.select_related("account", "role").order_by("account__name") if editable else []
    staff_role = StaffRole(user.staff_role).label if user.is_staff and user.staff_role else ""
    return render(
        request,
        "access/profile.html",
        {
            "form": form,
            "person": user,
            "memberships": memberships,
            "staff_role": staff_role,
            "offices": list(user.additional_offices.all()),
        },
    )
