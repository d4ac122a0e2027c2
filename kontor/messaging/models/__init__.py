"""The models of messaging, one module per topic. Every model is imported here: Django finds an app's
models through `<app>.models`, and `from kontor.messaging.models import Message` keeps working."""

from kontor.messaging.models.campaigns import Campaign
from kontor.messaging.models.connectors import AccountRoute, ConnectorConfig, ConnectorKind, ResubmitPolicy
from kontor.messaging.models.dlr import PendingDlr
from kontor.messaging.models.inbound import InboundPartial, InboundRejection
from kontor.messaging.models.messages import FINAL, Direction, Message, MessageEvent, Status
from kontor.messaging.models.ratecard import RateCardEntry, prefix_validator
from kontor.messaging.models.sendrate import MAX_SEND_RATE, SendBucket, SendRate
from kontor.messaging.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "FINAL",
    "MAX_SEND_RATE",
    "AccountRoute",
    "Campaign",
    "ConnectorConfig",
    "ConnectorKind",
    "Direction",
    "InboundPartial",
    "InboundRejection",
    "Message",
    "MessageEvent",
    "PendingDlr",
    "RateCardEntry",
    "ResubmitPolicy",
    "SendBucket",
    "SendRate",
    "Status",
    "Webhook",
    "WebhookDelivery",
    "prefix_validator",
]
