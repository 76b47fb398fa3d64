"""The recommender served from the database: a user's feed, similar videos
and search. Candidates come from pgvector (content), the persisted ALS model
(CF), trending and fresh uploads; ``blend.rank`` scores them exactly as the
in-memory ``HybridRecommender`` does.

Only vectors of the active embedding version are ever compared, and every
candidate is published.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.db.models import F, Q

from mediarec.models import ModelKind, ModelVersion, Video
from mediarec.recommender import queries
from mediarec.recommender.base import top_n
from mediarec.recommender.blend import Pool, Ranked, because, explanation, history_strength, normalize, rank
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows, strongest_history, taste_vector
from mediarec.recommender.store import CFModel, active_cf_model
from mediarec.recommender.weights import event_weights, user_row

log = logging.getLogger(__name__)

MAX_WINDOW = 500  # offset + limit of one feed request
TRENDING_TTL_S = 60.0
FRESH_TTL_S = 30.0

_cache_lock = threading.Lock()
_cache: dict[tuple, tuple[float, object]] = {}


def _cached(key: tuple, ttl: float, compute: Callable[[], object]):
    """A per-process time-to-live memo for the few shared, slow-changing lists."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit and now - hit[0] < ttl:
            return hit[1]
    value = compute()
    with _cache_lock:
        _cache[key] = (now, value)
    return value


def clear_caches() -> None:
    with _cache_lock:
        _cache.clear()


@dataclass(frozen=True)
class Recommendation:
    video: Video
    score: float
    sources: tuple[str, ...]
    reason: str
    because: Video | None = None

    @property
    def explanation(self) -> str:
        return explanation(self.reason, self.because.title if self.because else None)


VIDEO_FIELDS = ("id", "title", "thumbnail", "duration_s", "channel", "created_at", "status", "file", "tags")


def _videos_by_id(ids) -> dict[int, Video]:
    return {v.pk: v for v in Video.objects.filter(pk__in=list(ids)).only(*VIDEO_FIELDS)}


def active_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).only("name", "kind", "checkpoint_path").first()


@dataclass
class _History:
    """A user's distinct videos with signed confidences, as a (1, H) row over ``video_ids``."""

    video_ids: np.ndarray  # (H,) sorted
    row: sp.csr_matrix  # (1, H)

    @property
    def n_positive(self) -> int:
        return int((self.row.data > 0).sum())


def _history(user_id: int | None, config: RecommenderConfig) -> _History:
    if user_id is None:
        return _History(np.empty(0, np.int64), sp.csr_matrix((1, 0), dtype=np.float32))
    video_ids, kinds, ages = queries.user_history(user_id)
    distinct, cols = np.unique(video_ids, return_inverse=True)
    return _History(distinct, user_row(cols, event_weights(kinds, ages, config), n_items=len(distinct), config=config))


@dataclass
class _Taste:
    vector: np.ndarray | None = None  # (D,)
    video_ids: np.ndarray | None = None  # (T,) history videos with an active embedding
    vectors: np.ndarray | None = None  # (T, D) their unit embeddings
    confidences: np.ndarray | None = None  # (T,)

    def liked(self) -> tuple[np.ndarray, np.ndarray]:
        if self.video_ids is None:
            return np.empty((0, 0), np.float32), np.empty(0, np.int64)
        positive = self.confidences > 0
        return self.vectors[positive], self.video_ids[positive]


def _taste(history: _History, version: ModelVersion, config: RecommenderConfig) -> _Taste:
    """Taste from the strongest (most recent, most engaged) history entries."""
    cols, confidences = strongest_history(history.row, config.taste_history)
    ids, vectors = queries.published_vectors(history.video_ids[cols].tolist(), version=version.name)
    lookup = {i: v for i, v in zip(ids.tolist(), vectors, strict=True) if v is not None}
    keep = np.array([int(history.video_ids[c]) in lookup for c in cols], dtype=bool)
    if not keep.any():
        return _Taste()
    video_ids = history.video_ids[cols[keep]]
    unit = normalize_rows(np.stack([lookup[int(i)] for i in video_ids]))
    vector = taste_vector(unit, confidences[keep], config)
    return _Taste(vector, video_ids, unit, confidences[keep])


def recommendations_for_user(
    *, user, limit: int = 20, offset: int = 0, config: RecommenderConfig | None = None
) -> list[Recommendation]:
    """The user's feed page ``[offset, offset + limit)``; anonymous users get trending and fresh."""
    config = config or RecommenderConfig.from_settings()
    if limit < 1 or offset < 0 or offset + limit > MAX_WINDOW:
        raise ValueError(f"need 1 <= limit and 0 <= offset with offset + limit <= {MAX_WINDOW}")
    version = active_version()
    history = _history(user.pk if user is not None and user.is_authenticated else None, config)
    k = max(config.candidates_per_source, offset + limit)
    seen = set(history.video_ids.tolist())
    nominated: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    taste = _taste(history, version, config) if version and history.n_positive else _Taste()
    if taste.vector is not None:
        nominated["content"] = queries.nearest_videos(
            taste.vector, version=version.name, exclude=list(seen), limit=k, config=config
        )

    cf = active_cf_model(config)
    cf_scores = None
    if cf is not None and history.n_positive:
        cols, known = cf.item_index(history.video_ids)
        if known.any():
            row = sp.csr_matrix(
                (history.row.toarray()[0][known], (np.zeros(int(known.sum())), cols[known])),
                shape=(1, len(cf.item_ids)),
                dtype=np.float32,
            )
            cf_scores = cf.recommender.item_factors @ cf.recommender.user_vector(row)
            top, scores = top_n(cf_scores, k, exclude=cols[known])
            nominated["cf"] = (cf.item_ids[top], scores)

    trend_ids, trend_scores, trend_users = _cached(
        ("trending", config), TRENDING_TTL_S, lambda: queries.trending(config)
    )
    unseen = np.array([i not in seen for i in trend_ids.tolist()], dtype=bool)
    nominated["trending"] = (trend_ids[unseen][:k], trend_scores[unseen][:k])
    if version:
        fresh_ids, fresh_ages = _cached(
            ("fresh", version.name, config), FRESH_TTL_S, lambda: queries.fresh(config, version=version.name)
        )
        unseen = np.array([i not in seen for i in fresh_ids.tolist()], dtype=bool)
        nominated["fresh"] = (fresh_ids[unseen][:k], 1.0 - fresh_ages[unseen][:k] / config.fresh_days)

    pool_ids = np.unique(np.concatenate([ids for ids, _ in nominated.values()] + [np.empty(0, np.int64)]))
    ids, vectors = queries.published_vectors(pool_ids.tolist(), version=version.name if version else None)
    pool = _pool(ids, vectors, nominated, taste.vector, cf, cf_scores, trend_ids, trend_scores, trend_users)
    ranked = rank(pool, n_user=history.n_positive, config=config, limit=limit, offset=offset)
    return _explained(ranked, pool, history, taste, cf)


def _pool(ids, vectors, nominated, taste, cf: CFModel | None, cf_scores, trend_ids, trend_scores, trend_users) -> Pool:
    """Raw per-source scores for every published candidate (NaN where a source has none)."""
    n = len(ids)
    dim = next((len(v) for v in vectors if v is not None), 0)
    matrix = np.zeros((n, dim), dtype=np.float32)
    for j, v in enumerate(vectors):
        if v is not None:
            matrix[j] = v
    matrix = normalize_rows(matrix) if dim else None

    def lookup(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        table = dict(zip(keys.tolist(), values.tolist(), strict=True))
        return np.array([table.get(i, np.nan) for i in ids.tolist()], dtype=np.float32)

    raw = {s: lookup(*nominated[s]) for s in ("trending", "fresh") if s in nominated}
    raw["trending"] = lookup(trend_ids, trend_scores)  # every candidate's popularity, not just nominated ones
    if taste is not None and matrix is not None:
        has = np.linalg.norm(matrix, axis=1) > 0
        raw["content"] = np.where(has, matrix @ taste, np.nan).astype(np.float32)
    item_history = np.nan_to_num(lookup(trend_ids, trend_users))
    if cf is not None:
        cols, known = cf.item_index(ids)
        item_history = np.where(known, cf.recommender.item_counts[cols], item_history).astype(np.float32)
        if cf_scores is not None:
            raw["cf"] = np.where(known, cf_scores[cols], np.nan).astype(np.float32)
    return Pool(
        items=ids,
        raw=raw,
        nominated={s: np.isin(ids, nominated[s][0]) for s in nominated},
        item_history=item_history,
        vectors=matrix,
    )


def _explained(ranked: list[Ranked], pool: Pool, history: _History, taste: _Taste, cf) -> list[Recommendation]:
    """Attach the history video behind each item: by embedding for content, by CF factors for CF."""
    if not ranked:
        return []
    index = {int(i): j for j, i in enumerate(pool.items.tolist())}
    items = np.array([r.item for r in ranked], dtype=np.int64)
    by_content = [None] * len(ranked)
    liked_vectors, liked_ids = taste.liked()
    if pool.vectors is not None and len(liked_ids):
        by_content = because(pool.vectors[[index[i] for i in items.tolist()]], liked_vectors, liked_ids)
    by_cf = [None] * len(ranked)
    if cf is not None and history.n_positive:
        liked = history.video_ids[history.row.toarray()[0] > 0]
        cols, known = cf.item_index(liked)
        item_cols, item_known = cf.item_index(items)
        factors = normalize_rows(cf.recommender.item_factors)
        found = because(factors[item_cols], factors[cols[known]], liked[known])
        by_cf = [f if k else None for f, k in zip(found, item_known, strict=True)]
    picks = [c if r.reason == "cf" else e for r, e, c in zip(ranked, by_content, by_cf, strict=True)]
    videos = _videos_by_id(items.tolist() + [p for p in picks if p is not None])
    return [
        Recommendation(videos[r.item], r.score, r.sources, r.reason, videos.get(p) if p is not None else None)
        for r, p in zip(ranked, picks, strict=True)
        if r.item in videos
    ]


def videos_similar(*, video: Video, limit: int = 12, config: RecommenderConfig | None = None) -> list[Recommendation]:
    """Videos like ``video``: content neighbours blended with co-watch counts,
    trusting co-watch more the more people engaged with ``video``."""
    config = config or RecommenderConfig.from_settings()
    version = active_version()
    k = max(limit * 3, 30)
    nominated: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if version and video.embedding is not None and video.embedding_version == version.name:
        nominated["content"] = queries.nearest_videos(
            np.asarray(video.embedding), version=version.name, exclude=[video.pk], limit=k, config=config
        )
    co_ids, co_counts, watchers = queries.cowatched(video.pk, config, limit=k)
    if len(co_ids):
        nominated["cowatch"] = (co_ids, co_counts)
    pool_ids = np.unique(np.concatenate([ids for ids, _ in nominated.values()] + [np.empty(0, np.int64)]))
    ids, vectors = queries.published_vectors(pool_ids.tolist(), version=version.name if version else None)
    if not len(ids):
        return []
    co_table = dict(zip(co_ids.tolist(), co_counts.tolist(), strict=True))
    cowatch = np.array([co_table.get(i, np.nan) for i in ids.tolist()], dtype=np.float32)
    content = np.full(len(ids), np.nan, dtype=np.float32)
    if "content" in nominated:
        target = normalize_rows(np.asarray(video.embedding, dtype=np.float32))
        for j, v in enumerate(vectors):
            if v is not None:
                content[j] = float(normalize_rows(v) @ target)
    h_i = float(history_strength(watchers, config.item_history_k))
    scores = (1.0 - h_i) * normalize(content) + h_i * normalize(cowatch)
    order = np.lexsort((ids, -scores))[:limit]
    videos = _videos_by_id(ids[order].tolist())
    out = []
    for j in order:
        sources = tuple(s for s, arr in (("content", content), ("cowatch", cowatch)) if np.isfinite(arr[j]))
        reason = "cowatch" if h_i * normalize(cowatch)[j] > (1.0 - h_i) * normalize(content)[j] else "content"
        if int(ids[j]) in videos:
            out.append(Recommendation(videos[int(ids[j])], float(scores[j]), sources, reason))
    return out


_embedders: dict[str, object] = {}


def _text_embedder(version: ModelVersion):
    """The engine's embedder for a VideoBERT checkpoint, loaded once per process."""
    if version.name not in _embedders:
        from videobert_engine.embed import Embedder

        _embedders.clear()
        _embedders[version.name] = Embedder.from_checkpoint(version.checkpoint_path)
    return _embedders[version.name]


@dataclass(frozen=True)
class SearchResults:
    mode: str  # "semantic" (text tower + pgvector) or "keyword"
    videos: list[Video]


def videos_search(*, query: str, limit: int = 20, config: RecommenderConfig | None = None) -> SearchResults:
    """Semantic search with the active VideoBERT's text tower; keyword search otherwise."""
    config = config or RecommenderConfig.from_settings()
    query = query.strip()
    if not query:
        return SearchResults("keyword", [])
    version = active_version()
    if version and version.kind == ModelKind.VIDEOBERT and version.checkpoint_path:
        try:
            vector = _text_embedder(version).embed_texts([query])[0]
        except Exception:  # a missing or broken checkpoint must not break search
            log.exception("text tower of %s unavailable; using keyword search", version.name)
        else:
            ids, _ = queries.nearest_videos(vector, version=version.name, exclude=[], limit=limit, config=config)
            videos = _videos_by_id(ids.tolist())
            return SearchResults("semantic", [videos[i] for i in ids.tolist() if i in videos])
    return SearchResults("keyword", list(_keyword_search(query, limit)))


def _keyword_search(query: str, limit: int):
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    document = (
        SearchVector("title", weight="A") + SearchVector("tags", weight="B") + SearchVector("description", weight="C")
    )
    terms = SearchQuery(query, search_type="websearch")
    found = (
        Video.objects.filter(published=True)
        .annotate(rank=SearchRank(document, terms))
        .filter(rank__gt=0)
        .order_by(F("rank").desc(), "-id")
        .only(*VIDEO_FIELDS)[:limit]
    )
    found = list(found)
    if found:
        return found
    words = [w for w in query.split() if w]
    match = Q()
    for word in words:
        match &= Q(title__icontains=word) | Q(tags__icontains=word)
    return Video.objects.filter(published=True).filter(match).only(*VIDEO_FIELDS)[:limit]
