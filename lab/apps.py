from django.apps import AppConfig


class LabConfig(AppConfig):
    """The development lab: the synthetic world, its loader, offline evaluation,
    benchmarks and the demo. The reference site installs it; a host site need not."""

    name = "lab"
    label = "mediarec_lab"
    verbose_name = "mediarec lab"
    default_auto_field = "django.db.models.BigAutoField"
