from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "kontor.messaging"
    label = "messaging"

    def ready(self) -> None:
        from kontor.ledger.verify import register_check
        from kontor.messaging.connectors.base import install_sink
        from kontor.messaging.delivery import checks
        from kontor.messaging.delivery.sink import MessagingSink
        from kontor.messaging.models import Message
        from kontor.tenancy.registry import register_account_data

        register_check(checks.hold_not_matching_messages)
        register_check(checks.stuck_reservation)
        # Connectors hand receipts and inbound messages to this sink instead of importing delivery.
        install_sink(MessagingSink())

        @register_account_data
        def messages(account):  # type: ignore[no-untyped-def]
            return ("messages", Message.objects.filter(account=account).count())

        _forget_senders_on_number_changes()


def _forget_senders_on_number_changes() -> None:
    """Sender numbers are memoised (core/hotcache.py): a number's change drops them in this process."""
    from django.db import transaction
    from django.db.models.signals import post_delete, post_save

    from kontor.core import hotcache
    from kontor.numbers.models import AccountNumber, Number

    def forget(**_: object) -> None:
        transaction.on_commit(lambda: hotcache.forget("sender"))

    for model in (Number, AccountNumber):
        post_save.connect(forget, sender=model, weak=False, dispatch_uid=f"hotcache-sender-{model.__name__}")
        post_delete.connect(forget, sender=model, weak=False, dispatch_uid=f"hotcache-sender-del-{model.__name__}")
