from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "kontor.staff"
    label = "staff"
