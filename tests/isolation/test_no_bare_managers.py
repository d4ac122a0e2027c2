"""Structural: views, API, forms, filters and tables reach tenant rows only through scoped()/get_scoped(),
never through a model's manager, so scoping cannot be forgotten in one view while kept in the next."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.apps import apps

from kontor.core.models import TenantModel

ROOT = Path(__file__).resolve().parents[2] / "kontor"
MANAGERS = {"objects", "_default_manager", "_base_manager"}
ALWAYS_GUARDED = {"User", "Role", "AuditEntry", "Membership"}
# Provider staff pages look across customers by design: the audit log and the users (filtered to staff
# or to one customer there) are theirs to read. Tenant models proper stay off-limits there too.
STAFF_ALLOWED = {"AuditEntry", "User"}


def guarded_models() -> set[str]:
    names = {m.__name__ for m in apps.get_models() if issubclass(m, TenantModel)}
    return names | ALWAYS_GUARDED


def covered_files() -> list[Path]:
    out = []
    for path in sorted(ROOT.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        name = path.name
        # An app laid out by layer has views/, api/, forms/... packages (kontor/api itself, the generic
        # API pieces, is not an app's entry point and is not scanned).
        packages = set(path.relative_to(ROOT).parts[1:-1])
        if (
            name.startswith(("views", "api"))
            or name in {"forms.py", "filters.py", "tables.py"}
            or packages & {"views", "api", "forms", "filters", "tables"}
        ):
            out.append(path)
    return out


def _aliases(tree: ast.AST) -> dict[str, str]:
    """Local name -> model class name, for `from x import User as Person`."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                out[alias.asname or alias.name] = alias.name
    return out


def bare_manager_uses(source: str, label: str, guarded: set[str], *, staff: bool) -> list[str]:
    tree = ast.parse(source, filename=label)
    aliases = _aliases(tree)
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and node.attr in MANAGERS):
            continue
        target = node.value
        if isinstance(target, ast.Name):
            model = aliases.get(target.id, target.id)
        elif isinstance(target, ast.Attribute):
            model = target.attr  # models.User.objects
        elif isinstance(target, ast.Call) and getattr(target.func, "id", "") == "get_user_model":
            model = "User"
        else:
            continue
        if model not in guarded or (staff and model in STAFF_ALLOWED):
            continue
        found.append(f"{label}:{node.lineno}: {model}.{node.attr}")
    return found


def test_the_check_finds_files_and_models():
    files = covered_files()
    assert len(files) >= 8, files
    assert {"Account", "Office", "Team", "CustomColumn", "ApiKey", "Membership", "User"} <= guarded_models()


def test_the_check_catches_what_it_should():
    source = (
        "from kontor.access.models import User as Person\n"
        "from kontor.tenancy import models\n"
        "from django.contrib.auth import get_user_model\n"
        "a = Person.objects.all()\n"
        "b = models.Account.objects.get(pk=1)\n"
        "c = get_user_model()._default_manager.all()\n"
        "d = Customer.objects.all()\n"
    )
    found = bare_manager_uses(source, "sample.py", guarded_models(), staff=False)
    assert [f.rsplit(": ", 1)[1] for f in found] == ["User.objects", "Account.objects", "User._default_manager"]
    staff_found = bare_manager_uses(source, "sample.py", guarded_models(), staff=True)
    assert [f.rsplit(": ", 1)[1] for f in staff_found] == ["Account.objects"]


@pytest.mark.parametrize("path", covered_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bare_manager_on_tenant_models(path):
    rel = path.relative_to(ROOT)
    found = bare_manager_uses(path.read_text(), f"kontor/{rel}", guarded_models(), staff="staff" in rel.parts)
    assert not found, "use kontor.core.scope.scoped()/get_scoped() instead:\n" + "\n".join(found)


def test_every_view_and_api_module_is_scanned():
    names = {str(p.relative_to(ROOT)) for p in covered_files()}
    assert {
        "messaging/api/messages.py",
        "messaging/api/campaigns.py",
        "messaging/api/inbound.py",
        "messaging/views/campaigns.py",
        "messaging/views/inbox.py",
        "messaging/forms/connectors.py",
    } <= names
