"""``manage.py train_videobert``: train on the current catalog and register a new model version."""

from django.core.management.base import BaseCommand, CommandError

from mediarec.errors import MediarecError
from mediarec.services.model_versions import model_version_train


class Command(BaseCommand):
    help = "Train VideoBERT on the catalog's videos (file + text) and register the checkpoint as a model version."

    def add_arguments(self, parser):
        parser.add_argument("--preset", default="tiny", help="engine size preset: tiny, small or c3d")
        parser.add_argument("--steps", type=int, default=200)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--name", default="", help="version name (default: videobert-<timestamp>)")
        parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda when available)")
        parser.add_argument(
            "--activate", action="store_true", help="make it the active version (re-embeds the catalog)"
        )

    def handle(self, *args, **opts):
        try:
            version = model_version_train(
                preset=opts["preset"],
                steps=opts["steps"],
                seed=opts["seed"],
                name=opts["name"],
                activate=opts["activate"],
                device=opts["device"],
            )
        except MediarecError as exc:
            raise CommandError(str(exc)) from exc
        state = "active; the catalog is being re-embedded" if version.is_active else "not active (use activate_model)"
        self.stdout.write(
            self.style.SUCCESS(f"registered {version.name} ({version.metrics['engine_version']}), {state}")
        )
