"""The single source of truth for permissions and the built-in roles made of them."""

from __future__ import annotations

from enum import StrEnum


class Perm(StrEnum):
    # customer permissions (granted by a role in an account)
    SEND_SMS = "send_sms"
    MANAGE_OFFICE_CREDITS = "manage_office_credits"
    VIEW_CREDITS = "view_credits"
    CREATE_ACCOUNTS = "create_accounts"
    MANAGE_ACCOUNTS = "manage_accounts"
    VIEW_USERS = "view_users"
    MANAGE_USERS = "manage_users"
    MANAGE_ROLES = "manage_roles"
    MANAGE_OFFICES = "manage_offices"
    MANAGE_SECURITY = "manage_security"
    MANAGE_API_KEYS = "manage_api_keys"
    VIEW_AUDIT = "view_audit"
    VIEW_CONTACTS = "view_contacts"
    MANAGE_CONTACTS = "manage_contacts"
    SEARCH_TRANSACTIONS = "search_transactions"
    SEARCH_BY_MOBILE = "search_by_mobile"
    TROUBLESHOOT_TRANSACTIONS = "troubleshoot_transactions"
    EXPORT_TRANSACTIONS = "export_transactions"
    VIEW_STATISTICS = "view_statistics"
    TECHNICAL_SETTINGS = "technical_settings"
    MANAGE_SERVICES = "manage_services"
    MANAGE_COMPANY = "manage_company"
    VIEW_PAYOUTS = "view_payouts"
    # provider staff permissions (granted by a staff role)
    STAFF_VIEW_CUSTOMERS = "staff.view_customers"
    STAFF_ONBOARD = "staff.onboard_customers"
    STAFF_MANAGE_CUSTOMERS = "staff.manage_customers"
    STAFF_MANAGE_FEATURES = "staff.manage_features"
    STAFF_VERIFY_CALLER = "staff.verify_caller"
    STAFF_MANAGE_NUMBERS = "staff.manage_numbers"
    STAFF_MANAGE_COST_CENTERS = "staff.manage_cost_centers"
    STAFF_MANAGE_BILLING = "staff.manage_billing"
    STAFF_VIEW_AUDIT = "staff.view_audit"
    STAFF_MANAGE_STAFF = "staff.manage_staff"
    STAFF_MANAGE_ALLOWLIST = "staff.manage_allowlist"

    @property
    def label(self) -> str:
        return PERM_LABELS.get(self, self.value.replace("staff.", "").replace("_", " ").capitalize())

    @property
    def is_staff_perm(self) -> bool:
        return self.value.startswith("staff.")


PERM_LABELS: dict[Perm, str] = {
    Perm.SEND_SMS: "Send SMS",
    Perm.MANAGE_OFFICE_CREDITS: "Manage Office SMS Credits",
    Perm.VIEW_CREDITS: "View SMS credits",
    Perm.CREATE_ACCOUNTS: "Create accounts",
    Perm.MANAGE_ACCOUNTS: "Manage accounts",
    Perm.VIEW_USERS: "View users",
    Perm.MANAGE_USERS: "Manage users",
    Perm.MANAGE_ROLES: "Manage roles",
    Perm.MANAGE_OFFICES: "Manage offices and teams",
    Perm.MANAGE_SECURITY: "Manage security (IP allowlist)",
    Perm.MANAGE_API_KEYS: "Manage API keys",
    Perm.VIEW_AUDIT: "View audit log",
    Perm.VIEW_CONTACTS: "View contacts",
    Perm.MANAGE_CONTACTS: "Manage contacts and phonebooks",
    Perm.SEARCH_TRANSACTIONS: "Search transactions",
    Perm.SEARCH_BY_MOBILE: "Search transactions by mobile number",
    Perm.TROUBLESHOOT_TRANSACTIONS: "Troubleshoot transactions (technical details)",
    Perm.EXPORT_TRANSACTIONS: "Export transactions",
    Perm.VIEW_STATISTICS: "View statistics",
    Perm.TECHNICAL_SETTINGS: "Technical settings",
    Perm.MANAGE_SERVICES: "Order and set up services",
    Perm.MANAGE_COMPANY: "Edit company information",
    Perm.VIEW_PAYOUTS: "View payouts",
    Perm.STAFF_MANAGE_ALLOWLIST: "Clear a customer's IP allowlist (lift a lock-out)",
}

CUSTOMER_PERMS: frozenset[Perm] = frozenset(p for p in Perm if not p.is_staff_perm)
STAFF_PERMS: frozenset[Perm] = frozenset(p for p in Perm if p.is_staff_perm)

# Built-in customer roles: slug -> (name, description, permissions).
BUILTIN_ROLES: dict[str, tuple[str, str, frozenset[Perm]]] = {
    "master": ("Master user", "Everything in every account of the customer.", CUSTOMER_PERMS),
    "administrator": (
        "Administrator",
        "Manages accounts, users, roles and settings; sends SMS.",
        CUSTOMER_PERMS,
    ),
    "sender": (
        "Sender",
        "Sends SMS and campaigns, manages contacts, searches transactions.",
        frozenset(
            {
                Perm.SEND_SMS,
                Perm.VIEW_CREDITS,
                Perm.VIEW_CONTACTS,
                Perm.MANAGE_CONTACTS,
                Perm.SEARCH_TRANSACTIONS,
                Perm.VIEW_STATISTICS,
            }
        ),
    ),
    "office_credit_manager": (
        "Office credit manager",
        "Sends SMS and manages the SMS credits of the users in their offices.",
        frozenset(
            {
                Perm.SEND_SMS,
                Perm.MANAGE_OFFICE_CREDITS,
                Perm.VIEW_CREDITS,
                Perm.VIEW_USERS,
                Perm.VIEW_CONTACTS,
                Perm.MANAGE_CONTACTS,
                Perm.SEARCH_TRANSACTIONS,
            }
        ),
    ),
    "support": (
        "Support",
        "Searches transactions by mobile number only, to answer consumers' questions.",
        frozenset({Perm.SEARCH_BY_MOBILE}),
    ),
    "technician": (
        "Technician",
        "Technical settings, transaction troubleshooting and service set-up only.",
        frozenset(
            {
                Perm.TECHNICAL_SETTINGS,
                Perm.TROUBLESHOOT_TRANSACTIONS,
                Perm.SEARCH_TRANSACTIONS,
                Perm.MANAGE_SERVICES,
                Perm.MANAGE_API_KEYS,
            }
        ),
    ),
    "read_only": (
        "Read-only",
        "Sees the account's data and changes nothing.",
        frozenset(
            {
                Perm.VIEW_CREDITS,
                Perm.VIEW_USERS,
                Perm.VIEW_CONTACTS,
                Perm.SEARCH_TRANSACTIONS,
                Perm.VIEW_STATISTICS,
                Perm.VIEW_AUDIT,
                Perm.VIEW_PAYOUTS,
            }
        ),
    ),
}


class StaffRole(StrEnum):
    CSR = "csr"
    TAM = "tam"
    BILLING = "billing"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {
            "csr": "Customer service (CSR)",
            "tam": "Technical account manager",
            "billing": "Billing",
            "admin": "Administrator",
        }[self.value]


STAFF_ROLE_PERMS: dict[StaffRole, frozenset[Perm]] = {
    StaffRole.CSR: frozenset(
        {
            Perm.STAFF_VIEW_CUSTOMERS,
            Perm.STAFF_ONBOARD,
            Perm.STAFF_MANAGE_FEATURES,
            Perm.STAFF_VERIFY_CALLER,
            Perm.STAFF_MANAGE_NUMBERS,
            Perm.STAFF_VIEW_AUDIT,
            # A locked-out customer calls customer service: after verifying the caller, CSR lifts it.
            Perm.STAFF_MANAGE_ALLOWLIST,
        }
    ),
    StaffRole.TAM: frozenset(
        {
            Perm.STAFF_VIEW_CUSTOMERS,
            Perm.STAFF_MANAGE_CUSTOMERS,
            Perm.STAFF_MANAGE_FEATURES,
            Perm.STAFF_MANAGE_NUMBERS,
            Perm.STAFF_MANAGE_COST_CENTERS,
            Perm.STAFF_VERIFY_CALLER,
            Perm.STAFF_VIEW_AUDIT,
            Perm.STAFF_MANAGE_ALLOWLIST,
        }
    ),
    StaffRole.BILLING: frozenset({Perm.STAFF_VIEW_CUSTOMERS, Perm.STAFF_MANAGE_BILLING, Perm.STAFF_VIEW_AUDIT}),
    StaffRole.ADMIN: STAFF_PERMS,
}


def parse_perms(values: list[str] | tuple[str, ...] | set[str], *, allowed: frozenset[Perm]) -> frozenset[Perm]:
    """Permissions from their string values; unknown or disallowed ones raise ValueError naming them."""
    result: set[Perm] = set()
    for value in values:
        try:
            perm = Perm(value)
        except ValueError:
            raise ValueError(f"“{value}” is not a permission") from None
        if perm not in allowed:
            raise ValueError(f"“{value}” cannot be granted here")
        result.add(perm)
    return frozenset(result)
