"""Embedding tasks (``gpu`` queue). The work is in ``mediarec.services.embedding``.

GPU workers run ``celery -A tasks worker -Q gpu -c 1`` (prefork, one pool
child per GPU; docs/OPERATIONS.md). The model is loaded lazily by the child on
its first task, so CUDA is only ever initialised after the fork.
"""

import multiprocessing
import os
import random

from celery import shared_task
from celery.signals import worker_process_init

# A long database outage outlasts this many retries; the beat's stuck-work
# sweep then sends the videos again.
RETRY_LIMIT = 20
BACKOFF_CAP_S = 600.0


@shared_task(bind=True, name="tasks.embedding.embed_videos", max_retries=RETRY_LIMIT)
def embed_videos(self, video_ids: list[int]) -> dict:
    """Embed these videos (and other queued ones, up to a batch). Idempotent."""
    from mediarec.conf import app_settings
    from mediarec.errors import TransientEmbeddingError
    from mediarec.services.embedding import embedding_run_batch

    redelivered = bool((self.request.delivery_info or {}).get("redelivered"))
    try:
        result = embedding_run_batch(video_ids=video_ids, reclaim=redelivered or self.request.retries > 0)
    except TransientEmbeddingError as exc:
        delay = min(BACKOFF_CAP_S, app_settings.EMBED_RETRY_BACKOFF_S * 2**self.request.retries)
        raise self.retry(exc=exc, countdown=delay * random.uniform(0.8, 1.2)) from exc
    return result.as_dict()


@worker_process_init.connect
def allow_decoding_processes(**_) -> None:
    """Prefork children are marked daemonic, and a daemonic process may not
    start the DataLoader processes that decode videos in parallel. Those exit
    with their parent, which is what the flag protects, so lift it.

    The decoders start from a forkserver, which pickles the process key; the
    one billiard leaves behind refuses that, so give the child a plain one."""
    config = multiprocessing.current_process()._config
    config["daemon"] = False
    config["authkey"] = multiprocessing.process.AuthenticationString(os.urandom(32))
