"""A toy world where the right answer is known: three topics with clustered
embeddings, users who like one topic (and dislike one video of it), and one
cold video, never interacted with, sitting exactly on topic 2's centre."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.weights import build_user_items, event_weights

N_TOPICS, PER_TOPIC, DIM, N_USERS = 3, 20, 16, 30
CONFIG = RecommenderConfig(factors=8, iterations=8, regularization=0.05, num_threads=1, seed=7)


@dataclass
class ToyWorld:
    embeddings: np.ndarray  # (I, D) unit
    topic: np.ndarray  # (I,)
    user_topic: np.ndarray  # (U,)
    events: list[tuple[int, int, str]]  # (user, item, kind)
    cold_item: int
    config: RecommenderConfig = CONFIG

    @property
    def n_items(self) -> int:
        return len(self.topic)

    def matrix(self) -> sp.csr_matrix:
        users, items, kinds = zip(*self.events, strict=True)
        weights = event_weights(np.array(kinds), np.zeros(len(kinds)), self.config)
        return build_user_items(
            np.array(users), np.array(items), weights, shape=(N_USERS, self.n_items), config=self.config
        )

    def history(self, user: int) -> set[int]:
        return {i for u, i, _ in self.events if u == user}

    def disliked(self, user: int) -> set[int]:
        return {i for u, i, k in self.events if u == user and k == "dislike"}

    def popularity_order(self) -> np.ndarray:
        counts = np.zeros(self.n_items)
        for _, i, k in self.events:
            counts[i] += k != "dislike"
        return np.lexsort((np.arange(self.n_items), -counts))


def toy_world(seed: int = 0) -> ToyWorld:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(N_TOPICS, DIM))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    topic = np.repeat(np.arange(N_TOPICS), PER_TOPIC)
    embeddings = centres[topic] + 0.35 * rng.normal(size=(len(topic), DIM)) / np.sqrt(DIM)
    cold = len(topic)
    topic = np.append(topic, 2)
    embeddings = np.vstack([embeddings, centres[2]])
    embeddings /= np.linalg.norm(embeddings, axis=1, keepdims=True)
    user_topic = np.arange(N_USERS) % N_TOPICS
    # Popularity skew inside each topic: low-numbered items are liked more often.
    weights = 1.0 / np.arange(1, PER_TOPIC + 1)
    weights /= weights.sum()
    events = []
    for user in range(N_USERS):
        own = np.flatnonzero(topic[:cold] == user_topic[user])
        liked = rng.choice(own, 7, replace=False, p=weights)
        events += [(user, int(i), "like") for i in liked[:6]]
        events.append((user, int(liked[6]), "dislike"))
        other = np.flatnonzero(topic[:cold] != user_topic[user])
        events += [(user, int(i), "view") for i in rng.choice(other, 2, replace=False)]
    return ToyWorld(embeddings.astype(np.float32), topic, user_topic, events, cold)
