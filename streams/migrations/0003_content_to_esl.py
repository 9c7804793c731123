"""Stream content moves from Django's template language to ESL (issue 19).

Campaigns and drafts are converted in place. Published versions never change: a published
version still in use (a stream's current version, or one that unsent messages refer to) gets a
converted copy published as the stream's next version; published versions no longer in use keep
their Django syntax as the record of what was sent. Every template is rendered before and after
on its stream's sample data; what cannot be converted, or renders differently, is printed (see
streams.template_conversion.migrate_content).
"""

from django.db import migrations


def to_esl(apps, schema_editor):
    from streams.template_conversion import migrate_content

    migrate_content(apps, lambda line: print(f"\n  ESL: {line}", end=""))


class Migration(migrations.Migration):
    dependencies = [
        ("streams", "0002_stream_sample_data"),
        ("delivery", "0004_fewer_message_indexes"),
    ]

    operations = [migrations.RunPython(to_esl, migrations.RunPython.noop, elidable=True)]
