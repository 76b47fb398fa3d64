"""The recommender served from the database: a user's feed, similar videos
and search. Candidates come from pgvector (content), the persisted ALS model
(CF), trending and fresh uploads, and with an active learned ranker also from
the cold map (uploads nobody has engaged with, scored u · v̂). With a ranker
fitted beside the active CF model, ``ranked.rank_candidates`` orders them as the
in-memory ``RankedRecommender`` (without EASE) does; otherwise, and for users the
CF model cannot place, ``blend.rank`` scores them as ``HybridRecommender`` does.

A feed page costs two round trips to PostgreSQL: the user's history (with
the embeddings the taste needs), then one pipeline with the HNSW neighbours of
the taste and the cards and embeddings of the other candidates.

Only vectors of the active embedding version are ever compared, and every
candidate is published.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np
import scipy.sparse as sp
from django.db.models import Case, F, Q, TextField, Value, When
from django.utils import timezone

from mediarec.caching import TTLCache
from mediarec.conf import recommender_config
from mediarec.errors import InvalidQuery
from mediarec.models import ModelKind, ModelVersion, Video
from mediarec.recommender import ranker as rk
from mediarec.recommender.base import top_n
from mediarec.recommender.blend import Pool, Ranked, because, explanation, history_strength, normalize, rank
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.content import normalize_rows, strongest_history, taste_vector
from mediarec.recommender.ranked import RECENT, blend_score, rank_candidates
from mediarec.recommender.weights import event_weights, user_row
from mediarec.selectors import NO_OWN_TEXT, model_version_active_cached
from mediarec.services.model_versions import model_version_embedder
from mediarec.serving import queries
from mediarec.serving.cf_model import CFModel, active_cf_model
from mediarec.serving.ranker_model import RankerModel, active_ranker_model

log = logging.getLogger(__name__)

MAX_WINDOW = 500  # offset + limit of one feed request
_trending_lists = TTLCache(60.0)
_fresh_lists = TTLCache(30.0)


@dataclass(frozen=True)
class Recommendation:
    video: Video  # a card: only ``queries.CARD_FIELDS`` are loaded
    score: float
    sources: tuple[str, ...]
    reason: str
    because_id: int | None = None
    because_title: str | None = None

    @property
    def explanation(self) -> str:
        return explanation(self.reason, self.because_title)


@dataclass
class _History:
    """A user's distinct videos with signed confidences, and the embeddings of those that have one."""

    video_ids: np.ndarray  # (H,) sorted
    row: sp.csr_matrix  # (1, H) over ``video_ids``, built like a fit row (weights.py)
    titles: dict[int, str]
    vectors: np.ndarray  # (H, D), zero rows where a video has no active-version embedding or is too weak to count
    has_vector: np.ndarray  # (H,)  for the taste (queries.user_history sends only the strongest)
    latest: np.ndarray  # (H,) ``video_ids`` ordered by their latest event, newest first

    @property
    def confidences(self) -> np.ndarray:
        return self.row.toarray()[0]

    @property
    def n_positive(self) -> int:
        return int((self.row.data > 0).sum())

    @property
    def liked(self) -> np.ndarray:
        return self.video_ids[self.confidences > 0]


def _history(user_id: int | None, version: ModelVersion | None, config: RecommenderConfig) -> _History:
    if user_id is None:
        empty = np.empty(0, np.int64)
        row = sp.csr_matrix((1, 0), dtype=np.float32)
        return _History(empty, row, {}, np.zeros((0, 0), np.float32), np.empty(0, bool), empty)
    events = queries.user_history(user_id, version=version.name if version else None, config=config)
    distinct, first, cols = np.unique(events.video_ids, return_index=True, return_inverse=True)  # events: newest first
    row = user_row(cols, event_weights(events.kinds, events.age_days, config), n_items=len(distinct), config=config)
    at = np.searchsorted(distinct, events.vector_ids)
    vectors = np.zeros((len(distinct), events.vectors.shape[1]), np.float32)
    vectors[at] = events.vectors
    has_vector = np.zeros(len(distinct), bool)
    has_vector[at] = True
    return _History(distinct, row, events.titles, vectors, has_vector, distinct[np.argsort(first, kind="stable")])


@dataclass
class _Taste:
    vector: np.ndarray | None = None  # (D,)
    liked_ids: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))  # (T,) with an embedding
    liked_vectors: np.ndarray | None = None  # (T, D) unit


def _taste(history: _History, config: RecommenderConfig) -> _Taste:
    """Taste from the strongest (most recent, most engaged) history entries with an active embedding."""
    cols, confidences = strongest_history(history.row, config.taste_history)
    keep = history.has_vector[cols]
    if not keep.any():
        return _Taste()
    unit = normalize_rows(history.vectors[cols[keep]])
    vector = taste_vector(unit, confidences[keep], config)
    positive = confidences[keep] > 0
    return _Taste(vector, history.video_ids[cols[keep][positive]], unit[positive])


def _trending(cf: CFModel | None, config: RecommenderConfig):
    """Trending ids, scores and user counts: the CF model's decayed popularity when
    one is fitted (refreshed with every refit), otherwise a windowed SQL count."""
    if cf is not None:
        return cf.trending
    return _trending_lists.get(("trending", repr(config)), lambda: queries.trending(config))


def _in_sorted(values: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(values, keys)`` for sorted ``keys``; on a few hundred ids np.isin's set-up costs more than the work."""
    if not len(keys):
        return np.zeros(len(values), dtype=bool)
    return keys[np.minimum(np.searchsorted(keys, values), len(keys) - 1)] == values


def _cf_scores(cf: CFModel, history: _History) -> tuple[np.ndarray, sp.csr_matrix, np.ndarray] | None:
    """ALS scores (I,) of every item for the user's current history (solved now, so
    new interactions count at once), that history as a (1, I) row over the CF model's
    columns (its indices: the items they have seen), and the user's factors (F,)."""
    cols, known = cf.item_index(history.video_ids)
    if not known.any():
        return None
    seen = cols[known]  # ascending, as both id lists are sorted
    row = sp.csr_matrix(
        (history.confidences[known], seen, np.array([0, len(seen)])), shape=(1, len(cf.item_ids)), dtype=np.float32
    )
    user = cf.recommender.user_vector(row)
    return cf.recommender.item_factors @ user, row, user


def recommendations_for_user(
    *, user, limit: int = 20, offset: int = 0, config: RecommenderConfig | None = None
) -> list[Recommendation]:
    """The user's feed page ``[offset, offset + limit)``; anonymous users get trending and fresh."""
    config = config or recommender_config()
    if limit < 1 or offset < 0 or offset + limit > MAX_WINDOW:
        raise ValueError(f"need 1 <= limit and 0 <= offset with offset + limit <= {MAX_WINDOW}")
    version = model_version_active_cached()
    history = _history(user.pk if user is not None and user.is_authenticated else None, version, config)
    k = max(config.candidates_per_source, offset + limit)
    nominated: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    cf = active_cf_model(config)
    cf_scores = None
    if cf is not None and history.n_positive:
        scored = _cf_scores(cf, history)
        ranker = active_ranker_model(config, cf_name=cf.name) if scored is not None else None
        if ranker is not None:
            return _ranked_feed(history, version, cf, ranker, scored, limit=limit, offset=offset, config=config)
        if scored is not None:
            cf_scores, cf_row, _ = scored
            seen_cols = cf_row.indices
            top, scores = top_n(cf_scores, k, exclude=seen_cols)
            nominated["cf"] = (cf.item_ids[top], scores)

    trend_ids, trend_scores, trend_users = _trending(cf, config)
    unseen = ~_in_sorted(trend_ids, history.video_ids)
    nominated["trending"] = (trend_ids[unseen][:k], trend_scores[unseen][:k])
    if version:
        fresh_ids, fresh_ages = _fresh_lists.get(
            ("fresh", version.name, repr(config)), lambda: queries.fresh(config, version=version.name)
        )
        unseen = ~_in_sorted(fresh_ids, history.video_ids)
        nominated["fresh"] = (fresh_ids[unseen][:k], 1.0 - fresh_ages[unseen][:k] / config.fresh_days)

    others = np.unique(np.concatenate([ids for ids, _ in nominated.values()]))
    taste = _taste(history, config) if version and history.n_positive else _Taste()
    if taste.vector is not None:  # the HNSW neighbours and the other candidates' cards in one round trip
        cards, nominated["content"] = queries.feed_candidates(
            taste.vector, version=version.name, exclude=history.video_ids, also=others, limit=k, config=config
        )
    else:
        cards = queries.published_cards(others, version=version.name if version else None)
    pool = _pool(cards, nominated, taste.vector, cf, cf_scores, (trend_ids, trend_scores, trend_users))
    ranked = rank(pool, n_user=history.n_positive, config=config, limit=limit, offset=offset)
    return _explained(ranked, pool, cards.rows, history, taste, cf)


def _ranked_feed(
    history: _History, version, cf: CFModel, ranker: RankerModel, scored, *, limit: int, offset: int, config
) -> list[Recommendation]:
    """The feed page ordered by the learned ranker: candidates from ALS (cold videos through
    the cold map), the cold map alone, content, trending and fresh, with the features
    ``ranked.Sources.candidates`` gives the in-memory ranker (``ranker.features``)."""
    cf_scores, cf_row, user = scored
    seen_cols = cf_row.indices
    k = max(config.ranker_candidates, offset + limit)
    top, warm_scores = top_n(cf_scores, k, exclude=np.concatenate([seen_cols, cf.untouched_cols]))
    cold_seen = np.flatnonzero(_in_sorted(ranker.cold_ids, history.video_ids))
    cold_top, cold_scores = top_n(ranker.cold_factors @ user, k, exclude=cold_seen)
    als_ids = np.concatenate([cf.item_ids[top], ranker.cold_ids[cold_top]])
    als_order = np.lexsort((als_ids, -np.concatenate([warm_scores, cold_scores])))[:k]
    nominated = {"als": als_ids[als_order], "coldmap": ranker.cold_ids[cold_top]}
    cowatch = None
    if ranker.cowatch is not None:  # the item-kNN over the CF model's columns, as ranked.Sources scores it
        cowatch = ranker.cowatch.scores_for(cf_row)  # (I,)
        co_top, _ = top_n(cowatch, k, exclude=np.concatenate([seen_cols, cf.untouched_cols]))
        nominated["cowatch"] = cf.item_ids[co_top]
    trend_ids = cf.trending[0]
    nominated["trending"] = trend_ids[~_in_sorted(trend_ids, history.video_ids)][:k]
    if version:
        fresh_ids, _ = _fresh_lists.get(
            ("fresh", version.name, repr(config)), lambda: queries.fresh(config, version=version.name)
        )
        nominated["fresh"] = fresh_ids[~_in_sorted(fresh_ids, history.video_ids)][:k]
    others = np.unique(np.concatenate(list(nominated.values())))
    taste = _taste(history, config) if version else _Taste()
    if taste.vector is not None:
        cards, (nominated["content"], _) = queries.feed_candidates(
            taste.vector, version=version.name, exclude=history.video_ids, also=others, limit=k, config=config
        )
    else:
        cards = queries.published_cards(others, version=version.name if version else None)
    cands, unit = _ranker_candidates(cards, nominated, history, taste, cf, ranker, user, cowatch, config)
    pool = Pool(items=cands.items, raw={}, nominated={}, item_history=np.empty(0), vectors=unit)
    ranked = rank_candidates(cands, ranker.ranker, unit, limit=limit, offset=offset, config=config)
    ranked = [replace(r, sources=_blend_vocabulary(r.sources)) for r in ranked]
    return _explained(ranked, pool, cards.rows, history, taste, cf)


_CREATED_AT = queries.CARD_FIELDS.index("created_at")


def _ranker_candidates(cards: queries.Cards, nominated, history: _History, taste: _Taste, cf: CFModel,
                       ranker: RankerModel, user: np.ndarray, cowatch: np.ndarray | None,
                       config) -> tuple[rk.Candidates, np.ndarray | None]:  # fmt: skip
    """Every published candidate's features (``rk.Candidates``) and unit content vectors (C, D);
    ``cowatch`` (I,): the item-kNN scores over the CF model's columns, or None (a ranker without)."""
    ids = cards.ids
    unit = normalize_rows(cards.vectors) if cards.vectors.shape[1] else None
    has_vector = np.linalg.norm(unit, axis=1) > 0 if unit is not None else np.zeros(len(ids), bool)
    cols, known = cf.item_index(ids)
    counts = np.where(known, cf.recommender.item_counts[cols], 0.0).astype(np.float32)
    # CF factors: fitted ones for videos with history, mapped ones for the rest (stored at
    # the refit, or mapped now for a video uploaded since).
    factors = np.where((known & (counts > 0))[:, None], cf.recommender.item_factors[cols], 0.0).astype(np.float32)
    cold_at = np.minimum(np.searchsorted(ranker.cold_ids, ids), max(len(ranker.cold_ids) - 1, 0))
    stored = ranker.cold_ids[cold_at] == ids if len(ranker.cold_ids) else np.zeros(len(ids), bool)
    factors[stored] = ranker.cold_factors[cold_at[stored]]
    new = (counts == 0) & ~stored & has_vector
    if new.any():
        factors[new] = ranker.cold_map.predict(unit[new])
    has_factors = np.any(factors != 0, axis=1)
    als = np.where(has_factors, factors @ user, np.nan).astype(np.float32)
    now = timezone.now()
    ages = np.array([(now - cards.rows[i][_CREATED_AT]).total_seconds() for i in ids.tolist()]) / 86400.0
    raw = {
        "als": als,
        "content": np.where(has_vector, unit @ taste.vector, np.nan) if taste.vector is not None and unit is not None
        else np.full(len(ids), np.nan),
        "coldmap": np.where(counts == 0, als, np.nan),
        "cowatch": np.full(len(ids), np.nan) if cowatch is None else np.where(known, cowatch[cols], 0.0),
        "trending": np.where(known, cf.recommender.popularity[cols], 0.0),
        "fresh": np.where(ages <= config.fresh_days, 1.0 - ages / config.fresh_days, np.nan),
    }  # fmt: skip
    raw = {s: np.asarray(v, dtype=np.float32) for s, v in raw.items()}
    ranks = {}
    for s, nominee_ids in nominated.items():
        position = np.full(len(ids), np.nan, np.float32)
        at = np.searchsorted(ids, nominee_ids)
        found = at < len(ids)
        found[found] = ids[at[found]] == nominee_ids[found]
        position[at[found]] = np.flatnonzero(found)
        ranks[s] = position
    liked = set(history.liked.tolist())
    recent = np.array([v for v in history.latest.tolist() if v in liked][:RECENT], dtype=np.int64)
    if len(recent):
        recent_vectors = normalize_rows(history.vectors[np.searchsorted(history.video_ids, recent)])
        recent_content = (unit @ recent_vectors.T).max(axis=1) if unit is not None and recent_vectors.shape[1] else None
        rcols, rknown = cf.item_index(recent)
        recent_factors = np.where(rknown[:, None], cf.unit_item_factors[rcols], 0.0)
        recent_cf = (normalize_rows(factors) @ recent_factors.T).max(axis=1)
    else:
        recent_content = recent_cf = None
    nan = np.full(len(ids), np.nan, np.float32)
    n_user = float(history.n_positive)
    cands = rk.Candidates(
        items=ids,
        scores=raw,
        ranks=ranks,
        item_user_share=counts / max(ranker.n_active_users, 1),
        item_popularity_share=raw["trending"] / max(ranker.popularity_mean, 1e-9),
        recent_content=nan if recent_content is None else recent_content,
        recent_cf=nan if recent_cf is None else recent_cf,
        n_user=n_user,
        blend=blend_score(raw, counts, n_user, config),
        item_history=history_strength(counts, config.item_history_k),
    )
    return cands, unit


def _blend_vocabulary(sources: tuple[str, ...]) -> tuple[str, ...]:
    """The ranker's source names as the feed reports them (``rk.REASON``: cf, content, trending, fresh)."""
    return tuple(dict.fromkeys(rk.REASON[s] for s in sources))


def _pool(cards: queries.Cards, nominated, taste, cf: CFModel | None, cf_scores, trend) -> Pool:
    """Raw per-source scores for every published candidate (NaN where a source has none)."""
    ids = cards.ids
    matrix = normalize_rows(cards.vectors) if cards.vectors.shape[1] else None

    def lookup(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
        """values[keys == id] for each pool id, NaN where absent (vectorized)."""
        order = np.argsort(keys, kind="stable")
        pos = np.searchsorted(keys, ids, sorter=order)
        pos = order[np.minimum(pos, max(len(keys) - 1, 0))] if len(keys) else pos
        found = (keys[pos] == ids) if len(keys) else np.zeros(len(ids), bool)
        return np.where(found, values[pos] if len(keys) else np.nan, np.nan).astype(np.float32)

    trend_ids, trend_scores, trend_users = trend
    raw = {"trending": lookup(trend_ids, trend_scores)}  # every candidate's popularity, not only nominated ones
    if "fresh" in nominated:
        raw["fresh"] = lookup(*nominated["fresh"])
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
        nominated={s: _in_sorted(ids, np.sort(nominated[s][0])) for s in nominated},
        item_history=item_history,
        vectors=matrix,
    )


def _explained(ranked: list[Ranked], pool: Pool, rows, history: _History, taste: _Taste, cf) -> list[Recommendation]:
    """Attach the history video behind each item: by embedding for content, by CF factors for CF."""
    if not ranked:
        return []
    index = {int(i): j for j, i in enumerate(pool.items.tolist())}
    items = np.array([r.item for r in ranked], dtype=np.int64)
    by_content = [None] * len(ranked)
    if pool.vectors is not None and len(taste.liked_ids):
        by_content = because(pool.vectors[[index[i] for i in items.tolist()]], taste.liked_vectors, taste.liked_ids)
    by_cf = [None] * len(ranked)
    if cf is not None and history.n_positive:
        liked = history.liked
        cols, known = cf.item_index(liked)
        item_cols, item_known = cf.item_index(items)
        factors = cf.unit_item_factors
        found = because(factors[item_cols], factors[cols[known]], liked[known])
        by_cf = [f if k else None for f, k in zip(found, item_known, strict=True)]
    # Only a CF or content reason names a history video ("trending now" is about no video of theirs).
    picks = [{"cf": c, "content": e}.get(r.reason) for r, e, c in zip(ranked, by_content, by_cf, strict=True)]
    return [
        Recommendation(queries.card(rows[r.item]), r.score, r.sources, r.reason, p, history.titles.get(p))
        for r, p in zip(ranked, picks, strict=True)
    ]


def videos_similar(*, video: Video, limit: int = 12, config: RecommenderConfig | None = None) -> list[Recommendation]:
    """Videos like ``video``: content neighbours blended with co-watch counts,
    trusting co-watch more the more people engaged with ``video``:

        score = (1 − h_i) · content + h_i · cowatch,   h_i = n_i / (n_i + k_i)
    """
    config = config or recommender_config()
    version = model_version_active_cached()
    k = max(limit * 3, 30)
    nominated: dict[str, np.ndarray] = {}
    if version and video.embedding is not None and video.embedding_version == version.name:
        nominated["content"] = queries.nearest_videos(
            np.asarray(video.embedding), version=version.name, exclude=[video.pk], limit=k, config=config
        )[0]
    co_ids, co_counts, watchers = queries.cowatched(video.pk, config, limit=k)
    nominated["cowatch"] = co_ids
    pool_ids = np.unique(np.concatenate([*nominated.values(), np.empty(0, np.int64)]))
    cards = queries.published_cards(pool_ids, version=version.name if version else None)
    ids, rows = cards.ids, cards.rows
    if not len(ids):
        return []
    co_table = dict(zip(co_ids.tolist(), co_counts.tolist(), strict=True))
    raw = {"cowatch": np.array([co_table.get(i, np.nan) for i in ids.tolist()], dtype=np.float32)}
    if "content" in nominated and cards.vectors.shape[1]:
        target = normalize_rows(np.asarray(video.embedding, dtype=np.float32))
        unit = normalize_rows(cards.vectors)
        raw["content"] = np.where(np.linalg.norm(unit, axis=1) > 0, unit @ target, np.nan).astype(np.float32)
    h_i = float(history_strength(watchers, config.item_history_k))
    parts = {
        "content": (1.0 - h_i) * normalize(raw.get("content", np.full(len(ids), np.nan))),
        "cowatch": h_i * normalize(raw["cowatch"]),
    }
    scores = parts["content"] + parts["cowatch"]
    out = []
    for j in np.lexsort((ids, -scores))[:limit]:
        sources = tuple(s for s in ("content", "cowatch") if s in raw and np.isfinite(raw[s][j]))
        reason = "cowatch" if parts["cowatch"][j] > parts["content"][j] else "content"
        out.append(Recommendation(queries.card(rows[int(ids[j])]), float(scores[j]), sources, reason))
    return out


@dataclass(frozen=True)
class SearchResults:
    mode: str  # "semantic" (text tower + pgvector) or "keyword"
    videos: list[Video]


def videos_search(*, query: str, limit: int = 20, config: RecommenderConfig | None = None) -> SearchResults:
    """Semantic search with the active VideoBERT's text tower, behind the videos whose words match the query
    (title, tags, description, or the generated caption of a video with no text of its own); keyword search
    alone without a model."""
    config = config or recommender_config()
    query = query.strip()
    if "\x00" in query:  # PostgreSQL text cannot hold NUL; no real query has one
        raise InvalidQuery("the search query contains a NUL character; remove it and search again.")
    if not query:
        return SearchResults("keyword", [])
    version = model_version_active_cached()
    if version and version.kind == ModelKind.VIDEOBERT and version.checkpoint_path:
        try:
            vector = model_version_embedder(version=version).embed_texts([query])[0]
        except Exception:  # a missing or broken checkpoint must not break search
            log.exception("text tower of %s unavailable; using keyword search", version.name)
        else:
            ids, _ = queries.nearest_videos(vector, version=version.name, exclude=[], limit=limit, config=config)
            # videos whose words (own or generated) hold the query come first: a one-word query such as
            # "square" is a word to match more than a meaning to embed
            exact = [video.pk for video in _keyword_search(query, limit)]
            order = list(dict.fromkeys(exact + ids.tolist()))[:limit]
            rows = queries.published_cards(order, version=None).rows
            return SearchResults("semantic", [queries.card(rows[i]) for i in order if i in rows])
    return SearchResults("keyword", list(_keyword_search(query, limit)))


def _keyword_search(query: str, limit: int):
    from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector

    # A generated caption stands in for the words of a video nobody wrote about, ranked below written
    # words; a video with its own text is found by that text, not by what the model guessed it shows.
    caption = Case(When(NO_OWN_TEXT, then=F("caption")), default=Value(""), output_field=TextField())
    document = (
        SearchVector("title", weight="A")
        + SearchVector("tags", weight="B")
        + SearchVector("description", weight="C")
        + SearchVector(caption, weight="D")
    )
    terms = SearchQuery(query, search_type="websearch")
    found = (
        Video.objects.filter(published=True)
        .annotate(document=document, rank=SearchRank(document, terms))
        .filter(document=terms)  # the @@ match; ts_rank alone is never exactly 0
        .order_by(F("rank").desc(), "-id")
        .only(*queries.CARD_FIELDS)[:limit]
    )
    found = list(found)
    if found:
        return found
    words = [w for w in query.split() if w]
    match = Q()
    for word in words:
        match &= Q(title__icontains=word) | Q(tags__icontains=word) | (Q(caption__icontains=word) & NO_OWN_TEXT)
    return Video.objects.filter(published=True).filter(match).only(*queries.CARD_FIELDS)[:limit]
