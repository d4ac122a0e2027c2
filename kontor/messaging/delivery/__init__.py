"""The delivery lifecycle: a message handed to its connector and settled, its delivery reports (outbound),
inbound messages routed to an inbox (inbound), webhook events delivered to the account's URL (webhooks),
the ledger's proofs about messages in flight (checks), and the sink through which connectors hand back
what the network sends (sink).

The tasks were defined in kontor/messaging/delivery.py until the app was laid out by layer, and a
queued task in the database keeps the import path it was enqueued under; these names keep such a task
runnable after an upgrade. Nothing in the code imports them from here."""

from kontor.messaging.delivery.outbound import dispatch_message, dispatch_messages, simulator_dlr

__all__ = ["dispatch_message", "dispatch_messages", "simulator_dlr"]
