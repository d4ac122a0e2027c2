from django.db import migrations

from kontor.core.triggers import make_append_only
from kontor.ledger import triggers

posting_fwd, posting_back = make_append_only("ledger_posting")
journal_fwd, journal_back = make_append_only("ledger_journaltransaction")


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]
    operations = [
        migrations.RunPython(posting_fwd, posting_back),
        migrations.RunPython(journal_fwd, journal_back),
        migrations.RunPython(triggers.forward, triggers.backward),
    ]
