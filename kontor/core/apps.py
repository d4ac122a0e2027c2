from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kontor.core"
    label = "core"
