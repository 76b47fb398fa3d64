"""The evaluation results as a text table and as a PNG plot of each metric against K."""

from __future__ import annotations

from pathlib import Path

from lab.evaluation.metrics import METRICS

LABELS = {
    "precision": "P",
    "recall": "R",
    "ndcg": "nDCG",
    "map": "MAP",
    "coverage": "Cov",
    "novelty": "Nov",
    "cold_recall": "ColdR",
}
TITLES = {
    "precision": "Precision@K",
    "recall": "Recall@K",
    "ndcg": "nDCG@K",
    "map": "MAP@K",
    "coverage": "Catalog coverage@K",
    "novelty": "Novelty@K (bits)",
    "cold_recall": "Cold-start recall@K",
}


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def format_table(protocol_results: list[dict], k: int) -> str:
    """One block per protocol: a row per model, a column per metric at ``k``."""
    lines: list[str] = []
    header = ["model", *(f"{LABELS[m]}@{k}" for m in METRICS), "fit s", "ms/user"]
    for result in protocol_results:
        s = result["summary"]
        lines.append(
            f"{result['dataset']}/{result['protocol']}: {s['eval_users']} users scored, {s['items']} items "
            f"({s['cold_items']} cold), {s['train_interactions']} training pairs, {s['relevant_pairs']} relevant pairs"
        )
        rows = [header]
        for name, model in result["models"].items():
            if model["skipped"]:
                rows.append([name, f"skipped: {model['skipped']}"])
                continue
            values = model["metrics"][str(k)]
            rows.append(
                [name, *(_cell(values[m]) for m in METRICS), f"{model['fit_s']:.2f}", f"{model['recommend_ms']:.2f}"]
            )
        widths = [max(len(r[i]) for r in rows if i < len(r) and len(r) > 2) for i in range(len(header))]
        for row in rows:
            if len(row) == 2:
                lines.append(f"  {row[0]:<{widths[0]}}  {row[1]}")
            else:
                cells = [row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True))]
                lines.append("  " + "  ".join(cells))
        lines.append("")
    return "\n".join(lines)


def ratio_lines(protocol_results: list[dict], k: int, *, model: str = "hybrid") -> list[str]:
    """Per protocol: ``model``'s nDCG@k over the best of its single parts, and over the best of every other row."""
    from lab.evaluation.runner import SINGLE_MODELS

    lines = [f"{model} nDCG@{k} ÷ best single model (its parts) and ÷ best other row (blend and peers too):"]
    for result in protocol_results:
        rows = {n: m["metrics"][str(k)]["ndcg"] for n, m in result["models"].items() if not m["skipped"]}
        if model not in rows:
            continue
        singles = {n: v for n, v in rows.items() if n in SINGLE_MODELS}
        others = {n: v for n, v in rows.items() if n != model}
        parts = [f"  {result['dataset']}/{result['protocol']}: {rows[model]:.4f}"]
        for label, pool in (("single", singles), ("other", others)):
            if pool:
                best = max(pool, key=pool.get)
                ratio = rows[model] / pool[best] if pool[best] > 0 else float("inf")
                parts.append(f"{ratio:.3f}× best {label} ({best} {pool[best]:.4f})")
        lines.append("; ".join(parts))
    return lines


def plot_metrics(protocol_results: list[dict], ks: list[int], path: str | Path) -> Path:
    """A grid: one row per protocol, one column per metric, a line per model over K."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n_rows, n_cols = len(protocol_results), len(METRICS)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.6 * n_cols, 2.3 * n_rows + 0.6), squeeze=False)
    names: list[str] = []
    for r, result in enumerate(protocol_results):
        for c, metric in enumerate(METRICS):
            ax = axes[r][c]
            drawn = False
            for name, model in result["models"].items():
                if model["skipped"]:
                    continue
                values = [model["metrics"][str(k)][metric] for k in ks]
                if all(v is None for v in values):
                    continue
                ax.plot(ks, [float("nan") if v is None else v for v in values], marker="o", ms=3, label=name)
                drawn = True
                if name not in names:
                    names.append(name)
            if r == 0:
                ax.set_title(TITLES[metric], fontsize=9)
            if c == 0:
                ax.set_ylabel(f"{result['dataset']}\n{result['protocol']}", fontsize=9)
            if not drawn:
                ax.text(0.5, 0.5, "not defined here", ha="center", va="center", fontsize=8, color="gray")
                ax.set_yticks([])
            ax.set_xticks(ks)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
    handles = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    fig.legend([handles[n] for n in names], names, loc="upper center", ncol=len(names), fontsize=9, frameon=False)
    fig.supxlabel("K", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / (2.3 * n_rows + 0.6)))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_embedding_quality(report, path: str | Path) -> Path:
    """Two panels: attribute-neighbour agreement over chance per view, and text->video recall@K per query."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2))
    views = list(report.agreement)
    attributes = list(next(iter(report.agreement.values())))
    width = 0.8 / len(views)
    for v, view in enumerate(views):
        x = np.arange(len(attributes)) + v * width
        left.bar(x, [report.agreement[view][a] for a in attributes], width, label=view)
    left.axhline(1.0, color="grey", lw=0.8, ls="--")
    left.set_xticks(np.arange(len(attributes)) + 0.4 - width / 2, attributes)
    left.set_ylabel("10-NN agreement / chance")
    left.set_title(f"held-out videos of world {report.seed} ({report.n_test})", fontsize=10)
    left.legend(fontsize=7)
    ks = [1, 5, 10]
    for kind, row in report.recall.items():
        right.plot(ks, [row[k] if k in row else row[str(k)] for k in ks], marker="o", label=kind)
    right.plot(ks, [min(1.0, k / report.n_test) for k in ks], color="grey", ls="--", label="chance")
    right.set_xlabel("K")
    right.set_ylabel("text -> video recall@K")
    right.set_ylim(0, 1)
    right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
