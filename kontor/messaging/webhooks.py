"""The import path under which webhook delivery tasks were enqueued before the app was laid out by layer
(the task is kontor/messaging/delivery/webhooks.py). A queued task in the database keeps its path, so
this name keeps such a task runnable after an upgrade. Nothing in the code imports it."""

from kontor.messaging.delivery.webhooks import deliver_webhook

__all__ = ["deliver_webhook"]
