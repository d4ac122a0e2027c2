from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "kontor.ledger"
    label = "ledger"

    def ready(self) -> None:
        from kontor.ledger.models import Posting
        from kontor.tenancy.registry import register_account_data

        @register_account_data
        def credit_history(account):  # type: ignore[no-untyped-def]
            return ("credit postings", Posting.objects.filter(wallet__account=account).count())
