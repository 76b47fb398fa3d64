"""The simulated audience: viewers with known tastes, a long-tailed activity,
sessions over days, and the utility model that turns a shown slate into
views, completions, likes, shares and dislikes. docs/WORLD.md states the model
and the statistics it produces; the tests hold the two together.

    user: taste components (each anchored to a channel) + weights, activity, signup day
      |  per session: pick a mood (component) ~ weights
      v
    slate of SLATE_SIZE candidates: popular (appeal x recency) + mood channel + random
      |  choose the top session-length items by  B_REL*s_mood + B_POP*log(appeal) + Gumbel
      v
    view --> complete / like / share / dislike   from  z = A_REL*(rel - REL_CENTER) + A_POP*log(appeal) + N(0, 1)

Ground-truth relevance of (user, video) is ``max_k s_k(video)``: the best match
of the video's attributes with any of the user's taste components, in [-1, 1]
roughly (it never involves popularity or noise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lab.synthetic.catalog import (
    CHANNELS,
    FACTOR_NAMES,
    FACTOR_WEIGHTS,
    FACTORS,
    N_FEATURES,
    OFFSETS,
    CatalogArrays,
)

KINDS = ("view", "complete", "like", "share", "dislike")
VIEW, COMPLETE, LIKE, SHARE, DISLIKE = range(len(KINDS))
INTERACTION_DTYPE = np.dtype([("user", "i4"), ("video", "i4"), ("kind", "u1"), ("value", "f4"), ("time", "f8")])
DAY_S = 86400.0

# --- Users -------------------------------------------------------------------
MAX_COMPONENTS = 3
LATE_SIGNUP_SHARE = 0.25  # users who join during the period (the rest exist at day 0)
TASTE_NOISE = 0.35  # personal deviation of every preference
# --- Sessions and slates -----------------------------------------------------
SESSION_CONTINUE = 0.75  # chance the next view stays in the same session (mean length 4)
SLATE_SIZE = 30
SLATE_POPULAR, SLATE_CHANNEL = 10, 14  # the rest of the slate is uniform over the catalog
RECENCY_DAYS, RECENCY_FLOOR = 7.0, 0.2  # exposure weight: appeal * (floor + exp(-age / days))
EVENING_PEAK_H, EVENING_SPREAD_H = 20.0, 3.5
# --- Utility model -----------------------------------------------------------
B_REL, B_POP, CHOICE_NOISE = 8.0, 0.5, 1.0  # choice: which slate items get watched
A_REL, REL_CENTER, A_POP = 5.0, 0.2, 0.3  # outcome utility z
COMPLETE_BIAS, COMPLETE_SLOPE, COMPLETE_DURATION = -0.8, 1.0, 0.6
LIKE_BIAS, LIKE_SLOPE, LIKE_USER_SPREAD = -4.3, 1.0, 1.0
SHARE_BIAS, SHARE_SLOPE = -6.0, 1.0
DISLIKE_BIAS, DISLIKE_SLOPE = -3.6, 1.0
WATCH_GAP_S = 4.0  # pause between two views of a session


@dataclass
class UserSpec:
    """One viewer. ``taste[k]`` scores every attribute value (N_FEATURES columns)."""

    index: int
    channels: tuple[str, ...]  # the channel each taste component is anchored to
    weights: tuple[float, ...]  # mixture weights of the components (sum 1)
    taste: np.ndarray = field(repr=False)  # (K, N_FEATURES) float32
    activity: int  # planned views over the whole period (power law)
    signup_day: float
    like_bias: float

    @property
    def username(self) -> str:
        return username_for(self.index)


def username_for(index: int) -> str:
    return f"viewer{index:04d}"


@dataclass
class AudienceArrays:
    theta: np.ndarray  # (U, MAX_COMPONENTS, N_FEATURES) float32; unused components copy component 0
    weights: np.ndarray  # (U, MAX_COMPONENTS) float64, zero for unused components
    anchor: np.ndarray  # (U, MAX_COMPONENTS) int16 channel index
    activity: np.ndarray  # (U,) int64
    signup_day: np.ndarray  # (U,) float64
    like_bias: np.ndarray  # (U,) float64


def factor_weights_normalized() -> np.ndarray:
    w = np.array([FACTOR_WEIGHTS[f] for f in FACTOR_NAMES], dtype=np.float32)
    return w / w.sum()


def calibrate_x_min(mean: float, exponent: float, cap: int) -> float:
    """x_min of a Pareto(exponent) whose capped, floored draws average ``mean``."""
    u = (np.arange(20_000) + 0.5) / 20_000
    tail = u ** (-1.0 / (exponent - 1.0))
    lo, hi = 0.5, max(1.0, mean)
    for _ in range(60):
        mid = (lo + hi) / 2
        if np.minimum(cap, np.floor(mid * tail)).mean() < mean:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def sample_audience(
    n_users: int,
    *,
    days: int,
    n_videos: int,
    views_per_user_day: float,
    activity_exponent: float,
    rng: np.random.Generator,
) -> tuple[list[UserSpec], AudienceArrays]:
    channel_p = np.array([c.size for c in CHANNELS], dtype=np.float64)
    channel_p /= channel_p.sum()
    n_comp = 1 + rng.binomial(MAX_COMPONENTS - 1, 0.35, size=n_users)
    theta = rng.normal(0.0, TASTE_NOISE, size=(n_users, MAX_COMPONENTS, N_FEATURES)).astype(np.float32)
    favour = np.zeros((len(CHANNELS), N_FEATURES), dtype=np.float32)
    for c, ch in enumerate(CHANNELS):
        for name, values in ch.favours.items():
            f = FACTOR_NAMES.index(name)
            favour[c, [OFFSETS[f] + FACTORS[name].index(v) for v in values]] = 1.0
    dislikes = rng.integers(0, N_FEATURES, size=(n_users, 2))
    extra_like = rng.integers(0, N_FEATURES, size=(n_users, MAX_COMPONENTS))
    # Distinct channels drawn in proportion to channel size (Gumbel top-k), Dirichlet(2) weights.
    ranked = np.argsort(-(np.log(channel_p)[None, :] + rng.gumbel(size=(n_users, len(CHANNELS)))), axis=1)
    used = np.arange(MAX_COMPONENTS)[None, :] < n_comp[:, None]
    anchor = np.where(used, ranked[:, :MAX_COMPONENTS], ranked[:, :1]).astype(np.int16)
    weights = np.where(used, rng.gamma(2.0, size=(n_users, MAX_COMPONENTS)), 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    theta += favour[anchor]
    theta[np.arange(n_users)[:, None], np.arange(MAX_COMPONENTS)[None, :], extra_like] += 0.8
    theta[np.arange(n_users)[:, None, None], np.arange(MAX_COMPONENTS)[None, :, None], dislikes[:, None, :]] = -1.0
    theta[~used] = np.broadcast_to(theta[:, :1], theta.shape)[~used]

    cap = int(min(days * 60, max(10, 0.5 * n_videos)))
    mean = views_per_user_day * days
    x_min = calibrate_x_min(mean, activity_exponent, cap)
    activity = np.minimum(cap, np.floor(x_min * rng.random(n_users) ** (-1.0 / (activity_exponent - 1.0))))
    activity = np.maximum(1, activity).astype(np.int64)
    late = rng.random(n_users) < LATE_SIGNUP_SHARE
    signup = np.where(late, rng.random(n_users) * days, 0.0)
    like_bias = rng.normal(0.0, LIKE_USER_SPREAD, size=n_users)

    arrays = AudienceArrays(theta, weights, anchor, activity, signup, like_bias)
    users = [
        UserSpec(
            index=u,
            channels=tuple(CHANNELS[c].slug for c in anchor[u, : n_comp[u]]),
            weights=tuple(float(w) for w in weights[u, : n_comp[u]]),
            taste=theta[u, : n_comp[u]],
            activity=int(activity[u]),
            signup_day=float(signup[u]),
            like_bias=float(like_bias[u]),
        )
        for u in range(n_users)
    ]
    return users, arrays


# --- Relevance ---------------------------------------------------------------
def component_scores(theta_rows: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """s_k(v) for taste rows (..., N_FEATURES) and video codes (V, F) -> (..., V)."""
    columns = codes.astype(np.intp) + OFFSETS[None, :]  # (V, F)
    return (theta_rows[..., columns] * factor_weights_normalized()).sum(-1)


def relevance_pairs(audience: AudienceArrays, codes: np.ndarray, users: np.ndarray, videos: np.ndarray) -> np.ndarray:
    """Ground-truth relevance of each (users[i], videos[i]) pair."""
    out = np.empty(len(users), dtype=np.float32)
    wf = factor_weights_normalized()
    for start in range(0, len(users), 100_000):
        u, v = users[start : start + 100_000], videos[start : start + 100_000]
        columns = codes[v].astype(np.intp) + OFFSETS[None, :]  # (n, F)
        vals = audience.theta[u[:, None, None], np.arange(MAX_COMPONENTS)[None, :, None], columns[:, None, :]]
        out[start : start + len(u)] = (vals * wf).sum(-1).max(-1)  # (n, K, F) -> (n,)
    return out


# --- Simulation --------------------------------------------------------------
def simulate(catalog: CatalogArrays, audience: AudienceArrays, *, days: int, rng: np.random.Generator) -> np.ndarray:
    """Every interaction of the period, sorted by time (INTERACTION_DTYPE)."""
    n_users, n_videos = len(audience.activity), len(catalog.codes)
    # Views -> sessions: each view after a user's first starts a new session with 1 - SESSION_CONTINUE.
    view_user = np.repeat(np.arange(n_users), audience.activity)
    first = np.r_[True, view_user[1:] != view_user[:-1]]
    new_session = first | (rng.random(len(view_user)) >= SESSION_CONTINUE)
    session_of_view = np.cumsum(new_session) - 1
    s_user = view_user[new_session]
    s_len = np.minimum(np.bincount(session_of_view), SLATE_SIZE // 2)
    n_sessions = len(s_user)
    signup = audience.signup_day[s_user]
    s_day = np.floor(signup + rng.random(n_sessions) * (days - signup)).clip(0, days - 1)
    tod = np.mod(rng.normal(EVENING_PEAK_H, EVENING_SPREAD_H, size=n_sessions), 24.0) * 3600.0
    s_start = s_day * DAY_S + np.maximum(tod, (signup - s_day).clip(0) * DAY_S)
    cum_w = np.cumsum(audience.weights[s_user], axis=1)
    s_mood = (rng.random(n_sessions)[:, None] > cum_w).sum(1).clip(0, MAX_COMPONENTS - 1)
    s_channel = audience.anchor[s_user, s_mood]

    log_appeal = np.log(catalog.appeal)
    columns = catalog.codes.astype(np.intp) + OFFSETS[None, :]  # (V, F)
    wf = factor_weights_normalized()
    by_channel = [np.flatnonzero(catalog.channel == c) for c in range(len(CHANNELS))]
    watched = np.empty(0, dtype=np.int64)  # sorted keys user * V + video
    picked_session, picked_video, picked_rank = [], [], []

    for d in range(days):
        sessions = np.flatnonzero(s_day == d)
        if not len(sessions):
            continue
        age = d - catalog.created_day
        exposure = np.where(age > 0, catalog.appeal * (RECENCY_FLOOR + np.exp(-np.maximum(age, 0) / RECENCY_DAYS)), 0.0)
        available = np.flatnonzero(exposure > 0)
        if not len(available):
            continue
        S = len(sessions)
        n_random = SLATE_SIZE - SLATE_POPULAR - SLATE_CHANNEL
        cand = np.empty((S, SLATE_SIZE), dtype=np.int64)
        cand[:, :SLATE_POPULAR] = _draw(exposure, np.arange(n_videos), rng, (S, SLATE_POPULAR))
        cand[:, SLATE_POPULAR + SLATE_CHANNEL :] = available[rng.integers(0, len(available), size=(S, n_random))]
        channel_of = s_channel[sessions]
        for c in np.unique(channel_of):
            rows = np.flatnonzero(channel_of == c)
            pool = by_channel[c]
            if exposure[pool].sum() <= 0:
                pool = np.arange(n_videos)  # the channel has nothing out yet: show popular videos
            cand[rows, SLATE_POPULAR : SLATE_POPULAR + SLATE_CHANNEL] = _draw(
                exposure[pool], pool, rng, (len(rows), SLATE_CHANNEL)
            )
        users = s_user[sessions]
        theta = audience.theta[users, s_mood[sessions]]  # (S, N_FEATURES)
        mood_score = (theta[np.arange(S)[:, None, None], columns[cand]] * wf).sum(-1)  # (S, C)
        utility = B_REL * mood_score + B_POP * log_appeal[cand] + CHOICE_NOISE * rng.gumbel(size=cand.shape)
        # Nothing twice: drop repeats within a slate and videos the user has already watched.
        order = np.argsort(cand, axis=1, kind="stable")
        sorted_cand = np.take_along_axis(cand, order, 1)
        repeat = np.zeros_like(cand, dtype=bool)
        np.put_along_axis(repeat, order[:, 1:], sorted_cand[:, 1:] == sorted_cand[:, :-1], 1)
        keys = users[:, None] * n_videos + cand
        if len(watched):
            pos = np.searchsorted(watched, keys).clip(0, len(watched) - 1)
            repeat |= watched[pos] == keys
        utility[repeat] = -np.inf
        ranking = np.argsort(-utility, axis=1, kind="stable")
        ranked_utility = np.take_along_axis(utility, ranking, 1)
        take = (np.arange(SLATE_SIZE)[None, :] < s_len[sessions][:, None]) & np.isfinite(ranked_utility)
        rows, rank = np.nonzero(take)
        videos = np.take_along_axis(cand, ranking, 1)[rows, rank]
        picked_session.append(sessions[rows])
        picked_video.append(videos)
        picked_rank.append(rank)
        # Timsort merges the two sorted runs in linear time.
        watched = np.sort(np.concatenate([watched, np.sort(users[rows] * n_videos + videos)]), kind="stable")

    session = np.concatenate(picked_session)
    video = np.concatenate(picked_video)
    rank = np.concatenate(picked_rank)
    order = np.lexsort((rank, session))
    session, video, rank = session[order], video[order], rank[order]
    user = s_user[session]
    return _outcomes(catalog, audience, user, video, session, s_start, rng)


def _draw(weights: np.ndarray, items: np.ndarray, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """``items`` drawn with replacement, proportional to ``weights``."""
    cdf = np.cumsum(weights)
    return items[np.searchsorted(cdf, rng.random(shape) * cdf[-1], side="right").clip(0, len(items) - 1)]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _outcomes(catalog, audience, user, video, session, s_start, rng) -> np.ndarray:
    """Per view: what else the user did, and when. Views arrive grouped by session, in order."""
    n = len(user)
    rel = relevance_pairs(audience, catalog.codes, user, video)
    z = A_REL * (rel - REL_CENTER) + A_POP * np.log(catalog.appeal[video]) + rng.normal(size=n)
    duration = catalog.duration_s[video]
    complete = rng.random(n) < _sigmoid(COMPLETE_BIAS + COMPLETE_SLOPE * z - COMPLETE_DURATION * np.log(duration / 6.0))
    fraction = np.where(complete, 1.0, rng.uniform(0.05, 0.95, size=n))
    like = rng.random(n) < _sigmoid(LIKE_BIAS + LIKE_SLOPE * z + audience.like_bias[user])
    share = rng.random(n) < _sigmoid(SHARE_BIAS + SHARE_SLOPE * z)
    dislike = ~like & (rng.random(n) < _sigmoid(DISLIKE_BIAS - DISLIKE_SLOPE * z))

    # View times: a session's views follow each other, each after the previous one's watch time.
    watch = fraction * duration
    spent = np.cumsum(watch + WATCH_GAP_S)
    first = np.r_[True, session[1:] != session[:-1]]
    start_of = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    before = spent - (watch + WATCH_GAP_S) - (spent[start_of] - (watch[start_of] + WATCH_GAP_S))
    t_view = s_start[session] + before
    t_end = t_view + watch

    # A user could still meet a video in two sessions of the same day: keep the first view.
    key = user.astype(np.int64) * len(catalog.codes) + video
    order = np.argsort(t_view, kind="stable")
    _, first_idx = np.unique(key[order], return_index=True)
    keep = np.zeros(n, dtype=bool)
    keep[order[first_idx]] = True

    parts = []
    for kind, mask, time, value in (
        (VIEW, keep, t_view, fraction),
        (COMPLETE, keep & complete, t_end, np.ones(n)),
        (LIKE, keep & like, t_end, np.ones(n)),
        (SHARE, keep & share, t_end + 2.0, np.ones(n)),
        (DISLIKE, keep & dislike, t_end, np.ones(n)),
    ):
        part = np.empty(int(mask.sum()), dtype=INTERACTION_DTYPE)
        part["user"], part["video"], part["kind"] = user[mask], video[mask], kind
        part["value"], part["time"] = value[mask], time[mask]
        parts.append(part)
    events = np.concatenate(parts)
    return events[np.lexsort((events["kind"], events["time"]))]


# --- Statistics (the figures docs/WORLD.md states) ---------------------------
def power_law_exponent(counts: np.ndarray, x_min: float) -> float:
    """Maximum-likelihood exponent of a discrete power law over counts >= x_min
    (Clauset, Shalizi & Newman 2009, eq. 3.7)."""
    x = counts[counts >= x_min].astype(np.float64)
    return float(1.0 + len(x) / np.log(x / (x_min - 0.5)).sum())


def gini(values: np.ndarray) -> float:
    x = np.sort(values.astype(np.float64))
    n = len(x)
    if n == 0 or x.sum() == 0:
        return 0.0
    return float((2 * np.arange(1, n + 1) - n - 1) @ x / (n * x.sum()))


def top_share(values: np.ndarray, fraction: float) -> float:
    x = np.sort(values.astype(np.float64))[::-1]
    k = max(1, round(fraction * len(x)))
    return float(x[:k].sum() / max(1.0, x.sum()))
