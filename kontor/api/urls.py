"""Mounts every app's router on the one API."""

from kontor.access.api import router as access_router
from kontor.api.core import api
from kontor.audit.api import router as audit_router
from kontor.billing.api import credits_router as billing_credits_router
from kontor.billing.api import router as billing_router
from kontor.contacts.api import router as contacts_router
from kontor.ledger.api import router as ledger_router
from kontor.messaging.api.connectors import router as connectors_staff_router
from kontor.messaging.api.dlr import router as connector_dlr_router
from kontor.messaging.api.inbound import router as inbound_router
from kontor.messaging.api.messages import router as messaging_router
from kontor.messaging.api.sendrate import router as messaging_staff_router
from kontor.numbers.api import router as numbers_router
from kontor.staff.api import router as staff_router
from kontor.tenancy.api import router as tenancy_router

api.add_router("/", tenancy_router)
api.add_router("/", access_router)
api.add_router("/audit", audit_router)
api.add_router("/credits", ledger_router)
api.add_router("/credits", billing_credits_router)
api.add_router("/staff", staff_router)
api.add_router("/staff", messaging_staff_router)
api.add_router("/staff/connectors", connectors_staff_router)
api.add_router("/connectors", connector_dlr_router)
api.add_router("/numbers", numbers_router)
api.add_router("/contacts", contacts_router)
# Before the messages router: its /messages/{message_id} would otherwise take /messages/inbound.
api.add_router("/messages", inbound_router)
api.add_router("/messages", messaging_router)
api.add_router("/billing", billing_router)

__all__ = ["api"]
