"""Loads the demo world through the services (so it is audited like any change); a second run finds it
there and changes nothing."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from kontor.access.models import User
from kontor.access.perms import BUILTIN_ROLES, StaffRole
from kontor.access.roles import builtin_role, sync_builtin_roles
from kontor.access.services import create_staff_user, create_user
from kontor.billing.defaults import ensure_default_prices
from kontor.billing.purchase import purchase
from kontor.contacts.services import add_contact, create_phonebook
from kontor.core.commands import KontorCommand
from kontor.ledger import services as ledger
from kontor.ledger.posting import system_wallet, user_wallet
from kontor.messaging.models import ConnectorConfig
from kontor.messaging.services.connectors import create_connector
from kontor.numbers import services as numbers
from kontor.numbers.models import Number
from kontor.tenancy import services as tenancy
from kontor.tenancy.models import Account, CostCenter, Customer, Office, Team

DEMO_PASSWORD = "kontor-demo-2026"
STAFF = [
    ("admin@provider.demo", "Ada", "Admin", StaffRole.ADMIN),
    ("csr@provider.demo", "Cecilia", "Service", StaffRole.CSR),
    ("tam@provider.demo", "Tomas", "Manager", StaffRole.TAM),
    ("billing@provider.demo", "Bill", "Ing", StaffRole.BILLING),
]
FEATURES = [
    ("two-way-sms", "Two-way SMS", "Receive replies and MO messages on an activated number."),
    ("premium-sms", "Premium SMS", "Charge consumers through their phone bill or prepaid card."),
    ("campaigns", "Campaigns", "Send templated campaigns to phonebooks."),
    ("api-access", "API access", "Integrate through the REST API with API keys."),
    ("ivr", "IVR", "Voice menus for prepaid service accounts."),
]
# Messaging: (value, kind, country, operator, two-way, customer it is assigned to).
NUMBERS = [
    ("72000", "short_code", "SE", "Demo", True, "Nordlys AB"),
    ("+46701000100", "long_code", "SE", "Demo", True, "Nordlys AB"),
    ("+447911123456", "long_code", "GB", "Demo", True, "Thames Telecom Ltd"),
]
# Fictional Swedish mobile numbers (PTS reserves +46 70 1740605-699 for drama and examples).
NEWSLETTER = [
    ("+46701740605", "Astrid", "Lind", "C-1001"),
    ("+46701740606", "Bo", "Ek", "C-1002"),
    ("+46701740607", "Cecilia", "Berg", "C-1003"),
    ("+46701740608", "David", "Holm", "C-1004"),
    ("+46701740609", "Elsa", "Strand", "C-1005"),
]
# Office hours (manual 000): a Sender in Nordlys's "Customer care" account only, which sends 10:00–17:00 on
# weekdays (Europe/Stockholm) and never on Swedish public holidays, with credits and a phonebook of its own.
OFFICE_HOURS_SENDER = "care-sender@nordlys.demo"
OFFICE_HOURS_ACCOUNT = "Customer care"
OFFICE_HOURS_CREDITS = 50
CALLBACKS = [("+46701740620", "Ingrid", "CASE-301"), ("+46701740621", "Johan", "CASE-302")]
COST_CENTERS = [("CC-MKT", "Marketing"), ("CC-OPS", "Operations"), ("CC-SUP", "Customer support")]
CUSTOMERS = [
    {
        "name": "Nordlys AB",
        "billing_id": "NL-1001",
        "time_zone": "Europe/Stockholm",
        "country": "SE",
        "domain": "nordlys.demo",
        "accounts": [
            ("Marketing", "CC-MKT", False, ["Name", "Surname", "Customer number"]),
            ("Customer care", "CC-SUP", True, ["Name", "Case number"]),
            ("Operations", "CC-MKT", False, []),
        ],
        "offices": ["Stockholm", "Göteborg"],
        "teams": [("Campaign team", "Stockholm"), ("Care team", "Göteborg")],
        "features": ["two-way-sms", "campaigns", "api-access"],
        "credit_mode": "individual",
    },
    {
        "name": "Thames Telecom Ltd",
        "billing_id": "not_used",
        "time_zone": "Europe/London",
        "country": "GB",
        "domain": "thames.demo",
        "accounts": [
            ("Retail", "CC-OPS", False, ["Name", "Store"]),
            ("Wholesale", "CC-OPS", True, ["Company"]),
        ],
        "offices": ["London", "Leeds"],
        "teams": [("Retail desk", "London")],
        "features": ["premium-sms", "api-access"],
    },
]


class Command(KontorCommand):
    help = "Load the demo provider, staff, two customers with accounts, offices, teams and users (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        sync_builtin_roles()
        with transaction.atomic():
            created = self._load()
            # Its own step, so that a demo loaded before it existed gains it on the next run.
            created = self._office_hours_sender() or created
            created = self._connectors() or created
        self.stdout.write(self.style.SUCCESS("Demo data loaded." if created else "Demo data already present."))

    def _load(self) -> bool:
        if User.objects.filter(email=STAFF[0][0]).exists():
            return False
        staff: dict[str, User] = {}
        for email, first, last, role in STAFF:
            staff[role.value] = create_staff_user(
                actor=None,
                email=email,
                first_name=first,
                last_name=last,
                staff_role=role.value,
                password=DEMO_PASSWORD,
            )
        admin = staff["admin"]
        for code, name, description in FEATURES:
            tenancy.save_feature(None, actor=admin, code=code, name=name, description=description)
        for code, name in COST_CENTERS:
            tenancy.save_cost_center(None, actor=admin, code=code, name=name, customer=None)
        for spec in CUSTOMERS:
            self._customer(spec, admin)
        self._messaging(admin)
        self._credits()
        return True

    def _messaging(self, admin: User) -> None:
        """Numbers, keywords on the shared short code, Manage Unmatched, and a phonebook to send to."""
        found: dict[str, Number] = {}
        for value, kind, country, operator, two_way, owner in NUMBERS:
            number = numbers.add_number(
                actor=admin, value=value, kind=kind, country=country, operator=operator, two_way=two_way
            )
            customer = Customer.objects.get(name=owner)
            found[value] = numbers.assign_number(number, customer.subscriber_id, actor=admin)
        nordlys = Customer.objects.get(name="Nordlys AB")
        master = User.objects.get(email="master@nordlys.demo")
        marketing = Account.objects.get(customer=nordlys, name="Marketing")
        care = Account.objects.get(customer=nordlys, name="Customer care")
        short_code = found["72000"]
        for account, word in ((marketing, "DEAL"), (care, "HELP")):
            numbers.set_account_number(account, short_code, actor=master)
            order = numbers.order_keyword(account, short_code, word, actor=master)
            numbers.approve_keyword_order(order, actor=admin)
        numbers.set_unmatched_owner(short_code, care, actor=master)
        thames = Customer.objects.get(name="Thames Telecom Ltd")
        retail = Account.objects.get(customer=thames, name="Retail")
        numbers.set_account_number(retail, found["+447911123456"], actor=User.objects.get(email="master@thames.demo"))
        book = create_phonebook(marketing, actor=master, name="Newsletter", description="Demo subscribers")
        for phone, name, surname, customer_number in NEWSLETTER:
            add_contact(
                book,
                actor=master,
                phone=phone,
                values={"Name": name, "Surname": surname, "Customer number": customer_number},
            )

    def _connectors(self) -> bool:
        """The connectors page with something on it: the simulator as the default, and an SMPP and an
        HTTP connector to try (disabled: nothing listens on their addresses until you start, say, the
        test SMSC with `python -m tests.messaging.smsc --port 2775`)."""
        if ConnectorConfig.objects.filter(name="demo-simulator").exists():
            return False
        admin = User.objects.get(email=STAFF[0][0])
        create_connector(
            actor=admin,
            name="demo-simulator",
            kind="simulator",
            description="The built-in simulator: accepts, then reports delivery after 2 s",
            is_default=True,
        )
        create_connector(
            actor=admin,
            name="operator-smsc",
            kind="smpp",
            description="An operator's SMSC over SMPP 3.4 (try it with the test SMSC on port 2775)",
            enabled=False,
            options={"host": "127.0.0.1", "port": 2775, "system_id": "kontor"},
            secrets={"password": "demo"},
        )
        create_connector(
            actor=admin,
            name="http-provider",
            kind="http",
            description="A provider's HTTP send endpoint",
            enabled=False,
            options={"url": "http://127.0.0.1:9000/send"},
        )
        return True

    def _office_hours_sender(self) -> bool:
        """The user to try office-hours sending with: refused (or scheduled) on a weekend or a holiday."""
        if User.objects.filter(email=OFFICE_HOURS_SENDER).exists():
            return False
        nordlys = Customer.objects.filter(name="Nordlys AB").first()
        care = Account.objects.filter(customer=nordlys, name=OFFICE_HOURS_ACCOUNT, office_hours_only=True).first()
        master = User.objects.filter(email="master@nordlys.demo").first()
        if nordlys is None or care is None or master is None:
            return False  # not the demo world: leave it alone
        office = Office.objects.filter(customer=nordlys, name="Göteborg").first()
        sender = create_user(
            nordlys,
            actor=master,
            first_name="Carl",
            last_name="Care",
            email=OFFICE_HOURS_SENDER,
            primary_office=office,
            team=Team.objects.filter(customer=nordlys, name="Care team").first(),
            memberships=[(care, builtin_role("sender"))],
            send_welcome=False,
        )
        self._credentials(sender)
        ledger.transfer(
            system_wallet(nordlys),
            user_wallet(sender),
            OFFICE_HOURS_CREDITS,
            actor=master,
            reason="Demo allocation",
        )
        book = create_phonebook(care, actor=master, name="Callbacks", description="Customers waiting for a call")
        for phone, name, case in CALLBACKS:
            add_contact(book, actor=master, phone=phone, values={"Name": name, "Case number": case})
        return True

    def _credits(self) -> None:
        """System credits bought on invoice, then allocated to two users (the customer is in individual mode)."""
        ensure_default_prices()
        nordlys = Customer.objects.get(name="Nordlys AB")
        master = User.objects.get(email="master@nordlys.demo")
        purchase(
            nordlys,
            actor=master,
            quantity=500,
            for_user=None,
            payment_method="invoice",
            billing_details={"company": nordlys.name, "contact_name": "Maja Master", "email": master.email},
        )
        system = system_wallet(nordlys)
        for email, amount in (("sender@nordlys.demo", 200), ("master@nordlys.demo", 100)):
            target = user_wallet(User.objects.get(email=email))
            ledger.transfer(system, target, amount, actor=master, reason="Demo allocation")

    def _customer(self, spec: dict[str, Any], admin: User) -> None:
        customer = Customer.objects.create(
            name=spec["name"],
            billing_id=spec["billing_id"],
            time_zone=spec["time_zone"],
            country=spec["country"],
        )
        tenancy.set_features(customer, spec["features"], actor=admin)
        if spec.get("credit_mode"):
            tenancy.set_credit_mode(customer, spec["credit_mode"], actor=admin)
        domain = spec["domain"]
        offices = {name: tenancy.save_office(customer, None, actor=admin, name=name) for name in spec["offices"]}
        teams = {
            name: tenancy.save_team(customer, None, actor=admin, name=name, office=offices[office])
            for name, office in spec["teams"]
        }
        first_office = next(iter(offices.values()))
        first_team = next(iter(teams.values()))
        master = create_user(
            customer,
            actor=admin,
            first_name="Maja",
            last_name="Master",
            email=f"master@{domain}",
            phone="",
            is_master=True,
            primary_office=first_office,
            send_welcome=False,
        )
        self._credentials(master)
        accounts: list[Account] = []
        for name, cc_code, office_hours, columns in spec["accounts"]:
            accounts.append(
                tenancy.create_account(
                    customer,
                    actor=master,
                    name=name,
                    cost_center=CostCenter.objects.get(code=cc_code),
                    office_hours_only=office_hours,
                    custom_columns=[tenancy.ColumnSpec(name=c) for c in columns],
                )
            )
        names = {
            "administrator": ("Alex", "Administrator"),
            "sender": ("Sam", "Sender"),
            "office_credit_manager": ("Olga", "Officecredit"),
            "support": ("Sune", "Support"),
            "technician": ("Tea", "Technician"),
            "read_only": ("Rolf", "Readonly"),
        }
        for slug, (first, last) in names.items():
            role = builtin_role(slug)
            memberships = [(accounts[0], role)]
            if slug in {"administrator", "support"}:
                memberships.append((accounts[1], role))
            user = create_user(
                customer,
                actor=master,
                first_name=first,
                last_name=last,
                email=f"{slug.replace('_', '-')}@{domain}",
                primary_office=first_office,
                team=first_team,
                memberships=memberships,
                send_welcome=False,
                additional_offices=list(offices.values())[1:] if slug == "office_credit_manager" else [],
            )
            self._credentials(user)

    @staticmethod
    def _credentials(user: User) -> None:
        # Demo users skip the welcome mail: they get the demo password, PIN 1234 and a known answer.
        user.set_password(DEMO_PASSWORD)
        user.set_pin("1234")
        user.security_question = "What is the name of the demo city?"
        user.set_security_answer("Kontorstad")
        user.save()


def demo_logins() -> list[tuple[str, str]]:
    """(who, email) for the demo banner."""
    rows = [(f"Provider {role.label}", email) for email, _, _, role in STAFF]
    for spec in CUSTOMERS:
        rows.append((f"{spec['name']}: master user", f"master@{spec['domain']}"))
        for slug in BUILTIN_ROLES:
            if slug != "master":
                rows.append(
                    (
                        f"{spec['name']}: {BUILTIN_ROLES[slug][0]}",
                        f"{slug.replace('_', '-')}@{spec['domain']}",
                    )
                )
        if spec["domain"] == OFFICE_HOURS_SENDER.split("@")[1]:
            # "Customer care" sends only 10:00–17:00 on weekdays, never on a public holiday.
            rows.append((f"{spec['name']}: Sender in “{OFFICE_HOURS_ACCOUNT}” (office hours)", OFFICE_HOURS_SENDER))
    return rows
