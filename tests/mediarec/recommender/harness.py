"""Two ways to run a recommender on the toy world, behind one small interface,
so the contract suite can hold every recommender to the same rules: in memory
(fit on the matrix) and served from the database (the site's path)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import numpy as np
import scipy.sparse as sp
from django.utils import timezone

from mediarec.caching import caches_clear
from mediarec.models import Interaction, ModelKind, ModelVersion, Video
from mediarec.recommender.weights import build_user_items, event_weights
from mediarec.services.cf_models import cf_refit
from mediarec.serving.feeds import recommendations_for_user
from tests.factories import UserFactory
from tests.mediarec.recommender.toy import ToyWorld


class InMemory:
    def __init__(self, cls):
        self.cls = cls
        self.reaches_cold_items = cls.reaches_cold_items
        self.name = cls.__name__

    def fit(self, world: ToyWorld, seed: int = 7) -> None:
        self.world = world
        self.matrix = world.matrix()
        self.model = self.cls(replace(world.config, seed=seed)).fit(self.matrix, item_embeddings=world.embeddings)

    def recommend(self, user: int, n: int) -> list[int]:
        return self.model.recommend(user, self.matrix[user], N=n)[0].tolist()

    def recommend_new(self, liked: list[int], n: int) -> list[int]:
        w = self.world
        weights = event_weights(np.array(["like"] * len(liked)), np.zeros(len(liked)), w.config)
        row = build_user_items(
            np.zeros(len(liked), int), np.array(liked, int), weights, shape=(1, w.n_items), config=w.config
        )
        return self.model.recommend(10_000, sp.csr_matrix(row), N=n)[0].tolist()


class Served:
    """The database path: videos with padded embeddings, users, interactions, a CF refit."""

    reaches_cold_items = True
    name = "served"

    def fit(self, world: ToyWorld, seed: int = 7) -> None:
        from mediarec.conf import app_settings

        self.world = world
        self.config = replace(world.config, seed=seed)
        dim = app_settings.EMBEDDING_DIM
        ModelVersion.objects.update(is_active=False)
        ModelVersion.objects.get_or_create(
            name="toy-standin", defaults={"kind": ModelKind.STANDIN, "embedding_dim": dim, "is_active": True}
        )
        ModelVersion.objects.filter(name="toy-standin").update(is_active=True)
        if not hasattr(self, "video_ids"):
            month_ago = timezone.now() - timedelta(days=30)  # not fresh: keep the fresh source out of it
            padded = np.zeros((world.n_items, dim), np.float32)
            padded[:, : world.embeddings.shape[1]] = world.embeddings
            videos = Video.objects.bulk_create(
                Video(
                    title=f"Topic {world.topic[i]} video {i}",
                    tags=f"topic{world.topic[i]}",
                    embedding=padded[i],
                    embedding_version="toy-standin",
                    status="ready",
                    created_at=month_ago,
                )
                for i in range(world.n_items)
            )
            self.video_ids = [v.pk for v in videos]
            self.users = [UserFactory() for _ in range(world.user_topic.size)]
            Interaction.objects.bulk_create(
                Interaction(user=self.users[u], video_id=self.video_ids[i], kind=k) for u, i, k in world.events
            )
        self.index = {pk: i for i, pk in enumerate(self.video_ids)}
        cf_refit(config=self.config)
        caches_clear()

    def _items(self, user, n: int) -> list[int]:
        return [self.index[r.video.pk] for r in recommendations_for_user(user=user, limit=n, config=self.config)]

    def recommend(self, user: int, n: int) -> list[int]:
        return self._items(self.users[user], n)

    def recommend_new(self, liked: list[int], n: int) -> list[int]:
        user = UserFactory()
        Interaction.objects.bulk_create(Interaction(user=user, video_id=self.video_ids[i], kind="like") for i in liked)
        return self._items(user, n)
