"""``manage.py activate_model NAME``: make a registered model version the active one."""

from django.core.management.base import BaseCommand, CommandError

from mediarec.models import ModelVersion
from mediarec.services.model_versions import model_version_activate


class Command(BaseCommand):
    help = "Activate a model version; videos embedded with another version are re-embedded in the background."

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="version name (omit to list the versions)")

    def handle(self, *args, **opts):
        if not opts["name"]:
            for v in ModelVersion.objects.all():
                self.stdout.write(
                    f"{'*' if v.is_active else ' '} {v.name:40} {v.kind:10} {v.created_at:%Y-%m-%d %H:%M}"
                )
            return
        try:
            version = ModelVersion.objects.get(name=opts["name"])
        except ModelVersion.DoesNotExist as exc:
            raise CommandError(f"no model version named {opts['name']!r}") from exc
        model_version_activate(version=version)
        self.stdout.write(
            self.style.SUCCESS(f"{version.name} is active; stale videos are re-embedded in the background")
        )
