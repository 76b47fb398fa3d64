"""The synthetic world's three holdouts as evaluation protocols, scored against
its ground-truth relevance rather than against the events that happened to be
simulated.

Relevant items. For each user, the threshold is the (1 − ``top_fraction``)
quantile of their ground-truth relevance over the whole catalog (default: their
top 5 %); an item is relevant when it reaches the threshold, is a candidate in
the protocol, and is not in the user's history.

    temporal     fit on events before the cutoff (the last 20 % of events are held out);
                 scored: users active after it; candidates: videos uploaded by the cutoff.
    new-uploads  the newest 10 % of videos have no event in training;
                 scored: users with a relevant new upload; relevant: new uploads only.
    new-users    the 10 % of users who signed up last are left out of the fit; each is
                 recommended from their first ``first_events`` events (folded in, no refit),
                 and those events' items are not candidates.

Content vectors are the engine's own (``lab.evaluation.engine_vectors``: the
world's videos rendered, VideoBERT trained as the demo does, every video
embedded as the worker does), or the world's stand-in embeddings (from the
ground-truth attributes, ``lab.synthetic.standin``), an oracle upper bound
listed as the dataset "world-oracle"; event weights, time decay and
confidence come from ``recommender.weights``, with "now" at the cutoff.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lab.evaluation.protocol import Protocol
from lab.synthetic import KINDS, World, WorldConfig
from lab.synthetic.audience import DAY_S
from mediarec.recommender.config import RecommenderConfig
from mediarec.recommender.weights import build_user_items, event_weights, latest_times

DEFAULT_VIDEOS, DEFAULT_USERS, DEFAULT_DAYS = 600, 800, 30


def user_items(world: World, events: np.ndarray, now_s: float, config: RecommenderConfig) -> sp.csr_matrix:
    """Events → the (U, I) signed confidence matrix every recommender fits on."""
    kinds = np.asarray(KINDS)[events["kind"]]
    weights = event_weights(kinds, (now_s - events["time"]) / DAY_S, config)
    shape = (len(world.users), len(world.videos))
    return build_user_items(events["user"], events["video"], weights, shape=shape, config=config)


def train_times(world: World, events: np.ndarray) -> sp.csr_matrix:
    """(U, I) seconds of each pair's latest event, in ``user_items``'s pattern."""
    shape = (len(world.users), len(world.videos))
    return latest_times(events["user"], events["video"], events["time"], shape=shape)


def relevant_matrix(
    world: World, users: np.ndarray, candidates: np.ndarray, history: sp.csr_matrix, top_fraction: float
) -> sp.csr_matrix:
    """(U, I) 1 where the item is among the user's top ``top_fraction`` by ground truth,
    is a candidate (``candidates`` (I,) bool) and is not in the user's history."""
    n_users, n_items = history.shape
    rows, cols = [], []
    for start in range(0, len(users), 512):
        chunk = users[start : start + 512]
        relevance = world.relevance_matrix(chunk)  # (n, I)
        threshold = np.quantile(relevance, 1.0 - top_fraction, axis=1, keepdims=True)
        hit = (relevance >= threshold) & candidates[None, :]
        hit &= (history[chunk] != 0).toarray() == 0
        r, c = np.nonzero(hit)
        rows.append(chunk[r])
        cols.append(c)
    rows, cols = np.concatenate(rows or [[]]).astype(np.int64), np.concatenate(cols or [[]]).astype(np.int64)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))


def temporal_protocol(
    world: World, embeddings: np.ndarray, *, config: RecommenderConfig, top_fraction: float, frac: float = 0.2
) -> Protocol:
    split = world.holdout_temporal(frac)
    now = split.cutoff_time
    train = user_items(world, split.train, now, config)
    uploaded = world.catalog.created_day * DAY_S <= now
    relevant = relevant_matrix(world, split.test_users, uploaded, train, top_fraction)
    return Protocol(
        dataset="world",
        name="temporal",
        train=train,
        train_times=train_times(world, split.train),
        relevant=relevant,
        item_embeddings=embeddings,
        unavailable=~uploaded,
        item_age_days=now / DAY_S - world.catalog.created_day,
        description=f"last {frac:.0%} of events held out; ground-truth top {top_fraction:.0%} relevant",
        info={"cutoff_day": round(now / DAY_S, 2)},
    )


def new_uploads_protocol(
    world: World, embeddings: np.ndarray, *, config: RecommenderConfig, top_fraction: float, frac: float = 0.1
) -> Protocol:
    split = world.holdout_new_uploads(frac)
    now = world.config.days * DAY_S
    train = user_items(world, split.train, now, config)
    new = np.zeros(len(world.videos), dtype=bool)
    new[split.test_videos] = True
    relevant = relevant_matrix(world, np.arange(len(world.users)), new, train, top_fraction)
    return Protocol(
        dataset="world",
        name="new-uploads",
        train=train,
        train_times=train_times(world, split.train),
        relevant=relevant,
        item_embeddings=embeddings,
        item_age_days=world.config.days - world.catalog.created_day,
        description=f"newest {frac:.0%} of videos without any event; ground-truth top {top_fraction:.0%} relevant",
        info={"new_videos": int(new.sum())},
    )


def new_users_protocol(
    world: World,
    embeddings: np.ndarray,
    *,
    config: RecommenderConfig,
    top_fraction: float,
    frac: float = 0.1,
    first_events: int = 5,
) -> Protocol:
    split = world.holdout_new_users(frac)
    now = world.config.days * DAY_S
    train = user_items(world, split.train, now, config)
    # each new user's first events, in time order (split.test is sorted by time)
    order = np.argsort(split.test["user"], kind="stable")
    events = split.test[order]
    starts = np.searchsorted(events["user"], events["user"])
    first = events[np.arange(len(events)) - starts < first_events]
    history = train + user_items(world, first, now, config)
    everything = np.ones(len(world.videos), dtype=bool)
    relevant = relevant_matrix(world, split.test_users, everything, history, top_fraction)
    return Protocol(
        dataset="world",
        name="new-users",
        train=train,
        train_times=train_times(world, split.train),
        relevant=relevant,
        history=history,
        item_embeddings=embeddings,
        item_age_days=world.config.days - world.catalog.created_day,
        description=f"last {frac:.0%} of sign-ups out of the fit, recommended from their first {first_events} events",
        info={"new_users": len(split.test_users), "first_events": first_events},
    )


def world_config(opts: dict) -> WorldConfig:
    """The evaluated world from the command's options (``world_videos``, ``world_users``, ``world_days``, ``seed``)."""
    return WorldConfig(
        n_videos=opts.get("world_videos") or DEFAULT_VIDEOS,
        n_users=opts.get("world_users") or DEFAULT_USERS,
        days=opts.get("world_days") or DEFAULT_DAYS,
        seed=opts["seed"],
    )


def world_protocols(
    world: World,
    *,
    config: RecommenderConfig,
    embeddings: np.ndarray | None = None,
    dataset: str = "world",
    embedding_dim: int = 256,
    top_fraction: float = 0.05,
) -> Iterator[Protocol]:
    """The three holdouts, scored with ``embeddings`` as the content vectors (default:
    the stand-in vectors, an oracle) and listed under ``dataset``."""
    if embeddings is None:
        embeddings = world.standin_embeddings(embedding_dim)
    for make in (temporal_protocol, new_uploads_protocol, new_users_protocol):
        protocol = make(world, embeddings, config=config, top_fraction=top_fraction)
        protocol.dataset = dataset
        yield protocol


# rating a user gives a video in the MovieLens export: their strongest event on it
EXPORT_RATING = {"view": 3, "complete": 4, "like": 5, "share": 5, "dislike": 1}


def export_movielens(world: World, folder: str | Path, *, epoch: int = 1_790_000_000) -> dict[str, int]:
    """Write ``world`` in MovieLens-100k format, so the MovieLens path can be run at size.

    u.data: one rating per (user, video) from its strongest event (dislike wins: 1;
    like/share 5; complete 4; view 3), timestamped at the first event (``epoch`` + world seconds).
    u.genre: the world's channels; u.item: title with the upload year, upload date, the channel flag.
    Ids are world indices + 1.
    """
    from datetime import UTC, datetime, timedelta

    from lab.synthetic.catalog import CHANNELS

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    events = world.interactions
    rating = np.array([EXPORT_RATING[k] for k in KINDS])[events["kind"]]
    key = events["user"].astype(np.int64) * len(world.videos) + events["video"]
    order = np.lexsort((events["time"], key))
    key, rating, times = key[order], rating[order], events["time"][order]
    first = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    best = np.maximum.reduceat(rating, first)
    disliked = np.minimum.reduceat(rating, first) == EXPORT_RATING["dislike"]
    best[disliked] = EXPORT_RATING["dislike"]
    users, videos = np.divmod(key[first], len(world.videos))
    stamps = epoch + times[first].astype(np.int64)
    lines = [f"{u + 1}\t{v + 1}\t{r}\t{t}" for u, v, r, t in zip(users, videos, best, stamps, strict=True)]
    (folder / "u.data").write_text("\n".join(lines) + "\n")

    channels = [c.name for c in CHANNELS]
    slugs = [c.slug for c in CHANNELS]
    (folder / "u.genre").write_text("".join(f"{name}|{i}\n" for i, name in enumerate(channels)))
    start = datetime.fromtimestamp(epoch, UTC)
    rows = []
    for i, spec in enumerate(world.videos):
        day = start + timedelta(days=spec.created_day)
        flags = ["1" if slug == spec.channel else "0" for slug in slugs]
        title = spec.title.replace("|", "/")
        rows.append("|".join([str(i + 1), f"{title} ({day.year})", day.strftime("%d-%b-%Y"), "", "", *flags]))
    (folder / "u.item").write_bytes(("\n".join(rows) + "\n").encode("latin-1", errors="replace"))
    return {"ratings": len(lines), "users": len(world.users), "items": len(world.videos)}
