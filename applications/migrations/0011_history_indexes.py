"""Indexes for the history and the admin at a million applications (issue 16).

Each sort (probability, amount) and the model-version filter read their first
and last page from an index in the page's order; the reference search is a
range on the upper-cased reference (``infrastructure.prefix_search``). The
model version's own index is dropped (with ``DROP INDEX``, no SQLite table
rebuild: infrastructure.indexes): ``loanapp_version_created`` starts with it.
"""

from django.db import migrations, models

import infrastructure.prefix_search
from infrastructure.indexes import field_index_removal


class Migration(migrations.Migration):
    dependencies = [("applications", "0010_counter_offer")]

    operations = [
        field_index_removal(
            "applications",
            "loanapplication",
            "model_version",
            models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddIndex(
            model_name="loanapplication",
            index=models.Index(fields=["probability_of_default", "id"], name="loanapp_pd"),
        ),
        migrations.AddIndex(
            model_name="loanapplication",
            index=models.Index(fields=["loan_amnt", "id"], name="loanapp_amount"),
        ),
        migrations.AddIndex(
            model_name="loanapplication",
            index=models.Index(fields=["model_version", "created_at", "id"], name="loanapp_version_created"),
        ),
        migrations.AddIndex(
            model_name="loanapplication",
            index=models.Index(
                infrastructure.prefix_search.SearchKey("applicant_reference"), name="loanapp_reference_key"
            ),
        ),
    ]
