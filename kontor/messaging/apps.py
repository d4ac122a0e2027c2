from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "kontor.messaging"
    label = "messaging"
