from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask, PeriodicTasks

from dermgmt.schedule import PREFIX, safety_tasks_assert, schedule


class Command(BaseCommand):
    help = "Make django-celery-beat's periodic tasks match dermgmt/schedule.py."

    @transaction.atomic
    def handle(self, *args, **options):
        names = []
        for entry in schedule():
            interval, _ = IntervalSchedule.objects.get_or_create(
                every=max(1, round(entry.every_s)), period=IntervalSchedule.SECONDS
            )
            name = PREFIX + entry.name
            names.append(name)
            PeriodicTask.objects.update_or_create(
                name=name,
                defaults={
                    "task": entry.task,
                    "interval": interval,
                    "crontab": None,
                    "enabled": entry.enabled,
                    "expire_seconds": entry.expires_s and round(entry.expires_s),
                },
            )
            state = "on" if entry.enabled else "off"
            self.stdout.write(f"{name}: every {entry.every_s:g} s ({state})")
        stale = PeriodicTask.objects.filter(name__startswith=PREFIX).exclude(
            name__in=names
        )
        if stale.update(enabled=False):
            PeriodicTasks.update_changed()  # queryset.update() sends no signal
        # The safety rows exactly as code says (start time, args, expiry too).
        for problem in safety_tasks_assert():
            self.stdout.write(f"restored: {problem}")
