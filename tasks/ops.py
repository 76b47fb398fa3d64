"""Operational tasks: health checks."""

from celery import shared_task


@shared_task(name="tasks.ops.ping")
def ping(token: str) -> dict:
    """Prove a worker can reach the database: count the catalog and echo."""
    from mediarec.selectors import catalog_health

    return {"token": token, **catalog_health()}
