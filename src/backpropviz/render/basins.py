"""Views of a ``BasinMap``: over the plane of starting points, the final loss, the steps taken to
reach the loss threshold, and where each start ended (solved or stuck, or which cluster of
final parameters)."""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang
from .base import axes_or_new, new_figure, param_label
from .fonts import use_language

KINDS = ("loss", "steps", "outcome", "clusters")

LABELS = {
    "loss": {"en": "Final loss (log scale)", "ja": "最終損失 (対数目盛)"},
    "steps": {"en": "Steps to reach loss < {threshold:g}", "ja": "損失 < {threshold:g} に達するまでのステップ数"},
    "steps_cbar": {"en": "steps (grey: never)", "ja": "ステップ数 (灰色: 到達せず)"},
    "outcome": {"en": "Solved (final accuracy ≥ {acc:.0%}) or stuck", "ja": "解けた (最終正解率 ≥ {acc:.0%}) か停滞か"},
    "solved": {"en": "solved", "ja": "解けた"},
    "stuck": {"en": "stuck", "ja": "停滞"},
    "diverged": {"en": "diverged", "ja": "発散"},
    "clusters": {"en": "Which minimum: clusters of final parameters", "ja": "どの極小へ: 最終パラメータのクラスタ"},
    "cluster_n": {"en": "cluster {k} ({n} starts)", "ja": "クラスタ {k} ({n} 個)"},
    "suptitle": {"en": "Convergence map: {n} x {n} starts, {steps} steps each ({fixed})",
                 "ja": "収束マップ: {n} x {n} 個の開始点, 各 {steps} ステップ ({fixed})"},
    "fixed": {"en": "{names} start at {values}", "ja": "{names} の初期値は {values}"},
    "fixed_many": {"en": "{count} other parameters at their initial values",
                   "ja": "他の {count} 個のパラメータは初期値"},
    "start_x": {"en": "start {label}", "ja": "開始 {label}"},
    "run_start": {"en": "★: the run's own start", "ja": "★: この学習の開始点"},
    "start_dir": {"en": "random direction {k} from the run's start", "ja": "開始点からのランダム方向 {k}"},
    "random_plane": {"en": "every parameter moves along two filter-normalised random directions (seed {seed})",
                     "ja": "全パラメータがフィルタ正規化した 2 つのランダム方向に沿って動く (シード {seed})"},
}


def tr(key: str, lang: str, **fmt) -> str:
    text = LABELS[key][lang]
    return text.format(**fmt) if fmt else text


def describe_fixed(bm, lang: str) -> str:
    if bm.config.get("method", "params") == "random":
        return tr("random_plane", lang, seed=bm.config.get("seed", 0))
    fixed = bm.config.get("fixed", {})
    if not fixed:
        return ""
    if len(fixed) <= 3:
        return tr("fixed", lang, names=", ".join(fixed), values=", ".join(f"{v:.3g}" for v in fixed.values()))
    return tr("fixed_many", lang, count=len(fixed))


class BasinsDisplay:
    """One map of a ``BasinMap``: ``kind`` is loss, steps, outcome (solved/stuck) or clusters."""

    def __init__(self, basin_map, *, kind: str = "loss", lang: str = "en"):
        from ..errors import BackpropvizError

        if kind not in KINDS:
            raise BackpropvizError(f"unknown basin view {kind!r}; choose one of: {', '.join(KINDS)}")
        self.map, self.kind, self.lang = basin_map, kind, resolve_lang(lang)

    def __repr__(self) -> str:
        return f"BasinsDisplay(kind={self.kind!r}, grid={self.map.final_loss.shape}, lang={self.lang!r})"

    @classmethod
    def from_map(cls, basin_map, *, kind="loss", lang=None, ax=None, plot=True):
        display = cls(basin_map, kind=kind, lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Keeps ``ax_``, ``figure_``, ``image_`` and ``colorbar_`` (or ``legend_``)."""
        from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm
        from matplotlib.patches import Patch

        bm, lang = self.map, self.lang
        A, B = np.meshgrid(bm.alpha, bm.beta)
        with use_language(lang):
            ax = axes_or_new(ax, figsize=(6, 5))
            fig = ax.figure
            self.colorbar_ = self.legend_ = None
            if self.kind == "loss":
                Z = np.asarray(bm.final_loss, dtype=float)
                pos = Z[np.isfinite(Z) & (Z > 0)]
                lo = float(pos.min()) if pos.size else 1e-12
                hi = float(pos.max()) if pos.size and pos.max() > lo else lo * 10
                cmap = _with_bad("viridis")
                self.image_ = ax.pcolormesh(A, B, np.ma.masked_invalid(np.clip(Z, lo, None)), cmap=cmap,
                                            norm=LogNorm(lo, hi), shading="auto", rasterized=True)
                self.colorbar_ = fig.colorbar(self.image_, ax=ax)
                ax.set_title(tr("loss", lang), fontsize="medium")
            elif self.kind == "steps":
                S = np.asarray(bm.steps_to_threshold, dtype=float)
                S[S < 0] = np.nan
                cmap = _with_bad("plasma")
                self.image_ = ax.pcolormesh(A, B, np.ma.masked_invalid(S), cmap=cmap, shading="auto",
                                            rasterized=True)
                self.colorbar_ = fig.colorbar(self.image_, ax=ax, label=tr("steps_cbar", lang))
                ax.set_title(tr("steps", lang, threshold=bm.threshold), fontsize="medium")
            elif self.kind == "outcome":
                code = np.where(bm.diverged, 2, np.where(bm.solved, 0, 1))
                colors = ["#2ca02c", "#d62728", "#7f7f7f"]
                self.image_ = ax.pcolormesh(A, B, code, cmap=ListedColormap(colors),
                                            norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3), shading="auto",
                                            rasterized=True)
                handles = [Patch(color=c, label=f"{tr(k, lang)} ({int((code == i).sum())})")
                           for i, (c, k) in enumerate(zip(colors, ("solved", "stuck", "diverged")))
                           if (code == i).any()]
                self.legend_ = ax.legend(handles=handles, loc="upper right", fontsize="small", framealpha=0.9)
                ax.set_title(tr("outcome", lang, acc=bm.config.get("solved_accuracy", 1.0)), fontsize="medium")
            else:
                labels = np.asarray(bm.cluster)
                n = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
                shown = min(n, 10)  # the ten largest clusters get colours, the rest share grey
                code = np.where(labels < 0, shown + 1, np.minimum(labels, shown))
                import matplotlib

                base = [matplotlib.colormaps["tab10"](k) for k in range(shown)]
                colors = base + ["#bbbbbb", "#000000"]
                self.image_ = ax.pcolormesh(A, B, code, cmap=ListedColormap(colors),
                                            norm=BoundaryNorm(np.arange(-0.5, shown + 2.5), len(colors)),
                                            shading="auto", rasterized=True)
                handles = [Patch(color=base[k], label=tr("cluster_n", lang, k=k, n=int((labels == k).sum())))
                           for k in range(min(shown, 6))]
                self.legend_ = ax.legend(handles=handles, loc="upper right", fontsize="x-small", framealpha=0.9)
                ax.set_title(tr("clusters", lang), fontsize="medium")
            self.start_ = None
            start = bm.config.get("run_start")
            if start is not None:  # the run's own start, for orientation
                (self.start_,) = ax.plot(start[0], start[1], "w*", ms=14, mec="black", ls="none")
            if bm.config.get("method", "params") == "random":
                labels = [tr("start_dir", lang, k=k) for k in (1, 2)]
            else:
                labels = [tr("start_x", lang, label=param_label(n, lang)) for n in bm.axis_names]
            if not ax.get_xlabel():
                ax.set_xlabel(labels[0])
            if not ax.get_ylabel():
                ax.set_ylabel(labels[1])
        self.ax_, self.figure_ = ax, fig
        return self


def _with_bad(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#9e9e9e")


def basins_figure(basin_map, *, lang=None, kinds=None):
    """Final loss, steps to threshold, outcome and (when there are several) clusters, side by side."""
    lang = resolve_lang(lang)
    if kinds is None:
        n_clusters = len(basin_map.cluster_centers)
        kinds = ["loss", "steps", "outcome"] + (["clusters"] if 2 <= n_clusters <= 12 else [])
    with use_language(lang):
        fig = new_figure((5.2 * len(kinds), 5), layout="constrained")
        displays = [BasinsDisplay.from_map(basin_map, kind=k, lang=lang, ax=fig.add_subplot(1, len(kinds), i + 1))
                    for i, k in enumerate(kinds)]
        K = basin_map.final_loss.shape[0]
        fixed = describe_fixed(basin_map, lang)
        fig.suptitle(tr("suptitle", lang, n=K, steps=basin_map.config.get("steps", "?"), fixed=fixed)
                     + ("; " + tr("run_start", lang) if basin_map.config.get("run_start") else ""))
    return fig, displays
