from django.db import migrations


def create_builtin_roles(apps, schema_editor):
    from kontor.access.perms import BUILTIN_ROLES

    Role = apps.get_model("access", "Role")
    for slug, (name, description, perms) in BUILTIN_ROLES.items():
        Role.objects.update_or_create(
            customer=None,
            slug=slug,
            defaults={"name": name, "description": description, "perms": sorted(p.value for p in perms)},
        )


class Migration(migrations.Migration):
    dependencies = [("access", "0002_initial")]
    operations = [migrations.RunPython(create_builtin_roles, migrations.RunPython.noop)]
