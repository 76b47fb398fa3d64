"""Periodic tasks run by ``celery -A tasks beat`` (``default`` queue); the
schedule is ``CELERY_BEAT_SCHEDULE`` in settings."""

from celery import shared_task


@shared_task(name="tasks.maintenance.reembed_stale")
def reembed_stale() -> int:
    """After an activation: send every video not on the active version."""
    from mediarec.services.embedding import embeddings_queue_stale

    return embeddings_queue_stale(only_when_idle=False)


@shared_task(name="tasks.maintenance.sweep_stale_embeddings")
def sweep_stale_embeddings() -> int:
    """Send stale videos again once the ``gpu`` queue has drained."""
    from mediarec.services.embedding import embeddings_queue_stale

    return embeddings_queue_stale(only_when_idle=True)


@shared_task(name="tasks.maintenance.requeue_stuck_embeddings")
def requeue_stuck_embeddings() -> int:
    from mediarec.services.embedding import embeddings_requeue_stuck

    return embeddings_requeue_stuck()


@shared_task(name="tasks.maintenance.refit_cf")
def refit_cf() -> dict:
    """Refit collaborative filtering and the learned ranker on all interactions (none yet: nothing to do)."""
    from mediarec.recommender import FitError
    from mediarec.services.cf_models import cf_refit

    try:
        version = cf_refit()
    except FitError as exc:
        return {"skipped": str(exc)}
    ranker = version.rankers.filter(is_active=True).first()
    return {"name": version.name, "n_interactions": version.n_interactions, "fit_seconds": version.fit_seconds,
            "ranker": ranker.name if ranker else None}  # fmt: skip
