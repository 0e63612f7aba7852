"""HTML report of a simulated A/B: metric bars with 95% intervals per variant, and metrics
over simulated days; PNG plots (matplotlib, Agg) embedded as base64; written atomically."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from reelrec.artifacts import atomic_write_text
from reelrec.evaluation.online_metrics import Estimate

_CSS = (
    "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
    "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
    "th:first-child,td:first-child{text-align:left}img{max-width:100%}"
)


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _bars(variants: Mapping[str, Mapping[str, Estimate]]) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(variants)
    metrics = list(next(iter(variants.values())))
    cols = 3
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.8 * rows), squeeze=False)
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        est = [variants[v].get(metric) for v in names]
        means = [e.mean if e else float("nan") for e in est]
        errs = [
            [e.mean - e.lo if e else 0.0 for e in est],
            [e.hi - e.mean if e else 0.0 for e in est],
        ]
        ax.bar(names, means, yerr=errs, capsize=4, color=[f"C{i}" for i in range(len(names))])
        ax.set_title(metric, fontsize=10)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _days(per_day: pl.DataFrame) -> str | None:
    if per_day.height == 0 or per_day.get_column("day").n_unique() < 2:
        return None
    if "variant" not in per_day.columns:
        per_day = per_day.with_columns(pl.lit("all").alias("variant"))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [c for c in per_day.columns if c not in ("variant", "day")]
    cols = 3
    rows = (len(metrics) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 2.6 * rows), squeeze=False)
    variants = per_day.get_column("variant").unique(maintain_order=True).to_list()
    for ax, metric in zip(axes.ravel(), metrics, strict=False):
        for v in variants:
            part = per_day.filter(pl.col("variant") == v)
            ax.plot(part.get_column("day") + 1, part.get_column(metric), marker="o", label=v)
        ax.set_title(metric, fontsize=10)
        ax.set_xlabel("day", fontsize=8)
    axes.ravel()[0].legend(fontsize=8)
    for ax in axes.ravel()[len(metrics) :]:
        ax.axis("off")
    fig.tight_layout()
    out = _png(fig)
    plt.close(fig)
    return out


def _table(result: Mapping[str, Any]) -> str:
    variants: Mapping[str, Mapping[str, Any]] = result["variants"]
    names = list(variants)
    metrics = list(next(iter(variants.values())))
    head = "".join(f"<th>{html.escape(n)}</th>" for n in names)
    lifts = result.get("lift", {})
    lift_heads = "".join(f"<th>lift {html.escape(n)}</th>" for n in lifts)
    rows = []
    for m in metrics:
        cells = []
        for n in names:
            e = variants[n].get(m)
            cells.append(
                f"<td>{e['mean']:.4g} [{e['ci95'][0]:.4g}, {e['ci95'][1]:.4g}]</td>"
                if e
                else "<td/>"
            )
        for n in lifts:
            x = lifts[n].get(m)
            mark = " *" if x and x["significant"] else ""
            cells.append(
                f"<td>{x['lift']:+.2%} [{x['ci95'][0]:+.2%}, {x['ci95'][1]:+.2%}]{mark}</td>"
                if x
                else "<td/>"
            )
        rows.append(f"<tr><td>{html.escape(m)}</td>{''.join(cells)}</tr>")
    return f"<table><tr><th>metric</th>{head}{lift_heads}</tr>{''.join(rows)}</table>"


def write_report(
    path: str | Path,
    *,
    result: Mapping[str, Any],
    estimates: Mapping[str, Mapping[str, Estimate]],
    per_day: pl.DataFrame,
    title: str = "reelrec simulated A/B",
) -> Path:
    """Write the HTML report to ``path`` atomically; returns ``path``.

    Args:
        result: the JSON result (``variants``, optional ``lift``, ``srm``, ``settings``).
        estimates: per-variant metric estimates for the bar plots.
        per_day: metrics per ``variant`` and ``day`` (``online_metrics.daily``).
    """
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
    ]
    settings = result.get("settings")
    if settings:
        shown = ", ".join(
            f"{html.escape(str(k))}={html.escape(str(v))}" for k, v in settings.items()
        )
        parts.append(f"<p>{shown}</p>")
    parts.append("<h2>Metrics (mean over users, 95% CI; lift vs control, * = significant)</h2>")
    parts.append(_table(result))
    srm = result.get("srm")
    if srm:
        verdict = "MISMATCH" if srm["mismatch"] else "ok"
        parts.append(
            f"<p>Sample ratio check: users {srm['counts']}, χ² = {srm['chi2']:.3g}, "
            f"p = {srm['p_value']:.3g} ({verdict})</p>"
        )
    parts.append(
        f"<h2>Per variant</h2><img alt='metrics' src='data:image/png;base64,{_bars(estimates)}'>"
    )
    over_days = _days(per_day)
    if over_days:
        parts.append(
            f"<h2>Over simulated days</h2><img alt='days' src='data:image/png;base64,{over_days}'>"
        )
    parts.append("</body></html>\n")
    path = Path(path)
    atomic_write_text(path, "".join(parts))
    return path
