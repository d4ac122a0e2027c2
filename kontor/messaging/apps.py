from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "kontor.messaging"
    label = "messaging"

    def ready(self) -> None:
        from kontor.messaging.models import Message
        from kontor.tenancy.registry import register_account_data

        @register_account_data
        def messages(account):  # type: ignore[no-untyped-def]
            return ("messages", Message.objects.filter(account=account).count())
