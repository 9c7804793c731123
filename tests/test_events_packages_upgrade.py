"""Upgrading an installation to the events subpackages (issue 26: events/integrations/ and
events/programs/ were modules beside events/models.py).

The models stayed in the `events` app, so the database has nothing to migrate; what an existing
installation stores by module path are django-q2 Schedule rows, and `migrate` (its post_migrate
hooks) must point them at the moved tasks.
"""

import pytest
from django.core.management import call_command
from django.utils.module_loading import import_string
from django_q.models import Schedule

from events.integrations.tasks import PURGE_FUNC
from events.programs.queue import ADVANCE_FUNC
from events.programs.tasks import PICKUP_FUNC

# What an installation from before the move has in its Schedule table.
OLD_FUNCS = {
    "events-program-runs": "events.programs_tasks.advance_due_runs",
    "events-integration-calls-purge": "events.integrations_tasks.purge_calls",
}


@pytest.mark.django_db
def test_the_models_need_no_migration():
    # Exits (SystemExit 1) when a model and the migrations disagree, e.g. a moved model that
    # lost its app_label.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


@pytest.mark.django_db
def test_migrate_points_an_older_installations_schedules_at_the_moved_tasks():
    for name, old in OLD_FUNCS.items():
        assert Schedule.objects.filter(name=name).update(func=old) == 1

    call_command("migrate", verbosity=0, interactive=False)

    funcs = dict(Schedule.objects.filter(name__in=OLD_FUNCS).values_list("name", "func"))
    assert funcs == {
        "events-program-runs": "events.programs.tasks.advance_due_runs",
        "events-integration-calls-purge": "events.integrations.tasks.purge_calls",
    }


@pytest.mark.django_db
def test_every_task_path_names_a_function():
    paths = set(Schedule.objects.values_list("func", flat=True))
    assert paths, "post_migrate created no schedules"
    for path in paths | {ADVANCE_FUNC, PICKUP_FUNC, PURGE_FUNC}:
        assert callable(import_string(path)), path
