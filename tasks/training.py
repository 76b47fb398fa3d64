"""Training task (``gpu`` queue). The work is in ``mediarec.services.model_versions``."""

from celery import shared_task


@shared_task(name="tasks.training.train_videobert")
def train_videobert(preset: str = "tiny", steps: int = 200, seed: int = 0, activate: bool = False) -> dict:
    """Train on the current catalog and register a new model version."""
    from mediarec.services.model_versions import model_version_train

    version = model_version_train(preset=preset, steps=steps, seed=seed, activate=activate)
    return {"name": version.name, "active": version.is_active, "metrics": version.metrics}
