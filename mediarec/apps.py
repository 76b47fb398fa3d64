from django.apps import AppConfig


class MediarecConfig(AppConfig):
    name = "mediarec"
    verbose_name = "Media recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from mediarec import checks  # noqa: F401  (registers the system checks)
