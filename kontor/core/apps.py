from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kontor.core"
    label = "core"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created
        from django.db.models.signals import post_migrate, pre_migrate

        from kontor.core import rls

        rls.configure_process()
        connection_created.connect(rls.on_connection_created, dispatch_uid="kontor.rls.connection")
        # Once per migrate, after every app's migrations: each tenant table (new ones too) gets its policy.
        post_migrate.connect(rls.post_migrate, sender=self, dispatch_uid="kontor.rls.post_migrate")
        pre_migrate.connect(rls.pre_migrate, sender=self, dispatch_uid="kontor.rls.pre_migrate")
