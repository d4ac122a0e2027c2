from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "kontor.contacts"
    label = "contacts"

    def ready(self) -> None:
        from kontor.contacts.columns import ContactColumnValues
        from kontor.contacts.models import Contact, OptOut, Phonebook
        from kontor.tenancy.registry import register_account_data, register_column_values

        register_column_values(ContactColumnValues())

        @register_account_data
        def phonebooks(account):  # type: ignore[no-untyped-def]
            return ("phonebooks", Phonebook.objects.filter(account=account).count())

        @register_account_data
        def contacts(account):  # type: ignore[no-untyped-def]
            return ("contacts", Contact.objects.filter(account=account).count())

        @register_account_data
        def opt_outs(account):  # type: ignore[no-untyped-def]
            return ("opt-outs", OptOut.objects.filter(account=account).count())
