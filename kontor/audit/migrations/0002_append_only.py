from django.db import migrations

from kontor.core.triggers import make_append_only

forward, backward = make_append_only("audit_auditentry")


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(forward, backward)]
