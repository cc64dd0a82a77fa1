"""Views of a ``BasinMap``: over the plane of starting points, the final loss, the steps taken to
reach the loss threshold, and where each start ended (solved or stuck, or which cluster of
final parameters)."""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t, unsigned_zero
from . import palette
from .base import (LOG_RANGE, axes_or_new, integer_ticks, legend_below, log_ticks, new_figure, param_label,
                   spacing_formatter, tick_labels)
from .fonts import use_language

KINDS = ("loss", "steps", "outcome", "clusters")

# More clusters than this are a spread of final parameters rather than a few distinct minima:
# the map of which cluster each start reached is then not drawn.
MAX_DRAWN_CLUSTERS = 12


def tr(key: str, lang: str, **fmt) -> str:
    """This view's label ``key`` from the one catalogue (``i18n.CATALOGUE["basins_" + key]``)."""
    return t("basins_" + key, lang, **fmt)


def describe_fixed(bm, lang: str) -> str:
    if bm.config.get("method", "params") == "random":
        return tr("random_plane", lang, seed=bm.config.get("seed", 0))
    fixed = bm.config.get("fixed", {})
    if not fixed:
        return ""
    if len(fixed) <= 3:
        return tr("fixed", lang, names=", ".join(fixed),
                  values=", ".join(unsigned_zero(f"{v:.3g}") for v in fixed.values()))
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
        from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm, Normalize
        from matplotlib.patches import Patch

        bm, lang = self.map, self.lang
        A, B = np.meshgrid(bm.alpha, bm.beta)
        with use_language(lang):
            ax = axes_or_new(ax, figsize=(6, 5))
            fig = ax.figure
            self.colorbar_ = self.legend_ = self.note_ = None
            if self.kind == "loss":
                Z = np.asarray(bm.final_loss, dtype=float)
                pos = Z[np.isfinite(Z) & (Z > 0)]
                lo = float(pos.min()) if pos.size else 1e-12
                hi = float(pos.max()) if pos.size else lo
                # a log scale only over a decade or more: over a narrow range its labels repeat
                # the same few digits, while linear ticks get as many digits as tell them apart
                log = hi / lo >= LOG_RANGE
                if log:
                    norm = LogNorm(lo, hi)
                else:
                    pad = 0.5 * (hi - lo) if hi > lo else max(abs(hi) * 1e-6, 1e-12)
                    norm = Normalize(lo if hi > lo else lo - pad, hi if hi > lo else hi + pad)
                cmap = _with_bad("sequential")
                self.image_ = ax.pcolormesh(A, B, np.ma.masked_invalid(np.clip(Z, lo, None)), cmap=cmap,
                                            norm=norm, shading="auto", rasterized=True)
                self.colorbar_ = fig.colorbar(self.image_, ax=ax)
                if log:
                    ticks = log_ticks(lo, hi)
                    self.colorbar_.set_ticks(ticks, labels=tick_labels(ticks, significant=True))
                    self.colorbar_.ax.minorticks_off()
                elif hi > lo:
                    self.colorbar_.ax.yaxis.set_major_formatter(spacing_formatter())
                else:  # one value everywhere: one tick, in full
                    self.colorbar_.set_ticks([lo], labels=[f"{lo:.6g}"])
                ax.set_title(tr("loss" if log else "loss_linear", lang), fontsize="medium")
            elif self.kind == "steps":
                S = np.asarray(bm.steps_to_threshold, dtype=float)
                S[S < 0] = np.nan
                cmap = _with_bad("steps")
                self.image_ = ax.pcolormesh(A, B, np.ma.masked_invalid(S), cmap=cmap, shading="auto",
                                            rasterized=True)
                if np.isfinite(S).any():
                    self.colorbar_ = fig.colorbar(self.image_, ax=ax, label=tr("steps_cbar", lang,
                                                                               missing=t(palette.missing_name(), lang)))
                    integer_ticks(self.colorbar_.ax.yaxis)  # steps are counts
                else:  # no colour bar of made-up steps: say what happened, away from the run's start
                    start = bm.config.get("run_start")
                    low = start is not None and (start[1] - bm.beta[0]) > 0.4 * (bm.beta[-1] - bm.beta[0])
                    self.note_ = ax.text(0.5, 0.1 if low else 0.9, tr("steps_none", lang, threshold=bm.threshold),
                                         transform=ax.transAxes, ha="center", va="center", fontsize="medium",
                                         bbox=dict(boxstyle="round,pad=0.4", fc="white", ec="0.5", alpha=0.9))
                ax.set_title(tr("steps", lang, threshold=bm.threshold), fontsize="medium")
            elif self.kind == "outcome":
                code = np.where(bm.diverged, 2, np.where(bm.solved, 0, 1))
                colors = [palette.color(k) for k in ("solved", "stuck", "diverged")]  # never red vs green
                self.image_ = ax.pcolormesh(A, B, code, cmap=ListedColormap(colors),
                                            norm=BoundaryNorm([-0.5, 0.5, 1.5, 2.5], 3), shading="auto",
                                            rasterized=True)
                handles = [Patch(color=c, label=f"{tr(k, lang)} ({int((code == i).sum())})")
                           for i, (c, k) in enumerate(zip(colors, ("solved", "stuck", "diverged")))
                           if (code == i).any()]
                clusters = len(bm.cluster_centers)
                note = None  # without a cluster map, the legend says what the clusters are
                if clusters == 1 or clusters > MAX_DRAWN_CLUSTERS:
                    note = tr("one_cluster", lang) if clusters == 1 else tr("many_clusters", lang, n=clusters)
                # under the map, where it hides no start
                self.legend_ = legend_below(ax, handles, ncol=len(handles), title=note, fontsize="small")
                acc = float(bm.config.get("solved_accuracy", 1.0))
                ax.set_title(tr("fix_outcome_full", lang) if acc >= 1.0 else tr("outcome", lang, acc=acc),
                             fontsize="medium")
            else:
                labels = np.asarray(bm.cluster)
                n = int(labels.max()) + 1 if labels.size and labels.max() >= 0 else 0
                palette_colors = palette.colors("clusters")
                shown = min(n, len(palette_colors))  # the largest clusters get colours, the rest share grey
                code = np.where(labels < 0, shown + 1, np.minimum(labels, shown))
                base = palette_colors[:shown]
                colors = base + ["#bbbbbb", "#000000"]
                self.image_ = ax.pcolormesh(A, B, code, cmap=ListedColormap(colors),
                                            norm=BoundaryNorm(np.arange(-0.5, shown + 2.5), len(colors)),
                                            shading="auto", rasterized=True)
                handles = [Patch(color=base[k], label=tr("cluster_n", lang, k=k, n=int((labels == k).sum())))
                           for k in range(shown)]
                if n > shown:  # the smaller ones share grey: say how many and how many starts
                    handles.append(Patch(color=colors[shown], label=tr("clusters_more", lang, count=n - shown,
                                                                       n=int((labels >= shown).sum()))))
                # under the map, where it hides no start
                self.legend_ = legend_below(ax, handles, ncol=2, fontsize="x-small")
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


def _with_bad(role: str):
    """The palette's colour map for ``role``, with grey where there is no value."""
    return palette.cmap(role).with_extremes(bad=palette.color("missing"))


def basins_figure(basin_map, *, lang=None, kinds=None):
    """Final loss, steps to threshold, outcome and (when there are several) clusters, side by side."""
    lang = resolve_lang(lang)
    if kinds is None:
        n_clusters = len(basin_map.cluster_centers)
        kinds = ["loss", "steps", "outcome"] + (["clusters"] if 2 <= n_clusters <= MAX_DRAWN_CLUSTERS else [])
    with use_language(lang):
        fig = new_figure((5.2 * len(kinds), 5), layout="constrained")
        displays = [BasinsDisplay.from_map(basin_map, kind=k, lang=lang, ax=fig.add_subplot(1, len(kinds), i + 1))
                    for i, k in enumerate(kinds)]
        K = basin_map.final_loss.shape[0]
        fixed = describe_fixed(basin_map, lang)
        fig.suptitle(tr("suptitle", lang, n=K, steps=basin_map.config.get("steps", "?"), fixed=fixed)
                     + ("; " + tr("run_start", lang) if basin_map.config.get("run_start") else ""))
    return fig, displays
