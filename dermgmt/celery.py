"""The Celery app. Beat's schedule lives in code: dermgmt/schedule.py."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dermgmt.settings.development")

app = Celery("dermgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
