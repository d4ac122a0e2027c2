from django.apps import AppConfig


class OpsConfig(AppConfig):
    """The composition root: commands that run the whole product (demo data, run_demo, the worker) and so
    may import every app. No models; nothing imports it."""

    name = "kontor.ops"
    label = "ops"
