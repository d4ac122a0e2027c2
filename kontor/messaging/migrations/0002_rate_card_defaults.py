from django.db import migrations

DEFAULTS = [
    ("", "", "Any destination", 1),
    ("46", "SE", "", 1),
    ("44", "GB", "", 1),
    ("1", "US", "", 2),
]


def seed(apps, schema_editor):  # type: ignore[no-untyped-def]
    entry = apps.get_model("messaging", "RateCardEntry")
    for prefix, country, operator, credits in DEFAULTS:
        entry.objects.get_or_create(
            prefix=prefix, defaults={"country": country, "operator": operator, "credits_per_segment": credits}
        )


def unseed(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("messaging", "RateCardEntry").objects.filter(prefix__in=[d[0] for d in DEFAULTS]).delete()


class Migration(migrations.Migration):
    dependencies = [("messaging", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
