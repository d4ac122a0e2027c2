from django.apps import AppConfig


class NumbersConfig(AppConfig):
    name = "kontor.numbers"
    label = "numbers"
