from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "kontor.access"
    label = "access"

    def ready(self) -> None:
        from kontor.access import roles
        from kontor.access.models import ApiKey
        from kontor.tenancy.registry import register_account_data

        roles.connect()

        @register_account_data
        def api_keys(account):  # type: ignore[no-untyped-def]
            return ("API keys", ApiKey.objects.filter(account=account).count())
