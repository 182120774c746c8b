"""The Celery app. Beat's schedule lives in code: dermgmt/schedule.py."""

import os

from celery import Celery
from celery.signals import beat_init, task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermgmt.settings.development")

app = Celery("dermgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_connections(sender=None, **kwargs) -> None:
    """Around each task, what Django does around each request.

    A connection past CONN_MAX_AGE, or one that saw an error, is closed; a healthy
    one is kept (settings.CELERY_DB_REUSE_MAX stops Celery from closing it). An
    eager task runs inside its caller's transaction and is left alone.
    """
    if getattr(getattr(sender, "request", None), "is_eager", False):
        return
    from django.db import close_old_connections as close

    close()


@beat_init.connect
def safety_tasks_at_start(sender=None, **kwargs) -> None:
    """Beat starts (alone, or embedded in a worker with -B: the same signal): the
    safety entries of dermgmt/schedule.py are put back as code says, whatever was
    done to them in the admin. A running beat notices the change (django-celery-
    beat's PeriodicTasks stamp) and reloads its schedule."""
    from dermgmt.schedule import safety_tasks_assert

    safety_tasks_assert()
