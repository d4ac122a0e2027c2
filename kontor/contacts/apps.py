from django.apps import AppConfig


class ContactsConfig(AppConfig):
    name = "kontor.contacts"
    label = "contacts"
