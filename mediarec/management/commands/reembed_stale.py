"""``manage.py reembed_stale``: send every video not on the active model version to the GPU workers."""

from django.core.management.base import BaseCommand

from mediarec.services.embedding import embeddings_queue_stale


class Command(BaseCommand):
    help = "Queue re-embedding of videos whose vector is from another model version (they keep serving meanwhile)."

    def handle(self, *args, **opts):
        n = embeddings_queue_stale(only_when_idle=False)
        self.stdout.write(self.style.SUCCESS(f"queued {n} video(s)"))
