"""Figures of a recording of the user's own loop: loss, per-layer scalars, distributions, path.

Each display takes the arrays of analysis/recording_views.py (never a model), draws in
``plot(ax=None)`` and keeps its artists: ``lines_`` and friends, read back by the tests.

>>> from backpropviz.record import load_recording                       # doctest: +SKIP
>>> paths = write_recording_figures(load_recording("runs/x"), "out/x")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..analysis.recording_views import (RATIO_GUIDE, Distributions, LayerSeries, SnapshotPath, diagnose)
from ..i18n import resolve_lang, t
from .base import axes_or_new, legend_below, new_figure
from .fonts import use_language
from .gradnorms import layer_colors

MAX_PANELS = 12  # distribution panels per figure; more layers: the first and the last ones


def layer_label(name: str, lang: str) -> str:
    return name if name else t("rec_model_layer", lang)


def status_text(status: str, lang: str) -> str:
    key = status.split(":")[0].strip()
    return t(f"rec_status_{key}", lang) if key in ("completed", "incomplete", "error") else status


def finding_text(f, lang: str) -> str:
    value = (f"{f.value:.0%}" if f.kind == "dead" else f"{int(f.value)}" if f.kind in ("frozen", "nonfinite")
             else f"{f.value:,.0f}" if f.kind.startswith("exploding") else f"{f.value:.3g}")  # > 100x
    return t(f"rec_find_{f.kind}", lang, layer=layer_label(f.layer, lang), value=value, step=f.step)


class RecordingLossDisplay:
    """The loss handed to ``rec.step`` at every recorded step (log scale when it spans > 20x)."""

    def __init__(self, steps, loss, *, status="completed", lang="en"):
        self.steps = np.asarray(steps)
        self.loss = np.asarray(loss, dtype=float)
        self.status = status
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"RecordingLossDisplay(steps={len(self.steps)}, lang={self.lang!r})"

    @classmethod
    def from_recording(cls, rec, *, lang=None, ax=None, plot=True):
        d = cls(rec.steps, rec.loss, status=rec.status, lang=lang)
        return d.plot(ax=ax) if plot else d

    def plot(self, ax=None):
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=(8, 5))
            self.line_, = ax.plot(self.steps, self.loss, color="#222", linewidth=1.4,
                                  label=t("rec_loss_label", self.lang))
            finite = self.loss[np.isfinite(self.loss)]
            if finite.size and finite.min() > 0 and finite.max() / finite.min() > 20:
                ax.set_yscale("log")
            ax.set_xlabel(t("rec_step", self.lang))
            ax.set_ylabel(t("loss_value_log" if ax.get_yscale() == "log" else "loss_value", self.lang))
            ax.set_title(t("rec_loss_title", self.lang, steps=len(self.steps),
                           status=status_text(self.status, self.lang)), fontsize=11)
            ax.grid(True, alpha=0.4)
            missing = int(np.isnan(self.loss).sum())
            self.note_ = None
            if missing == len(self.loss):
                self.note_ = ax.text(0.5, 0.5, t("rec_loss_none", self.lang), transform=ax.transAxes,
                                     ha="center", va="center", fontsize=10)
            elif missing:
                self.note_ = ax.text(0.01, 0.01, t("rec_loss_missing", self.lang, n=missing, steps=len(self.loss)),
                                     transform=ax.transAxes, fontsize=8, va="bottom")
        self.ax_, self.figure_ = ax, ax.figure
        return self


class LayerScalarsDisplay:
    """Two panels over the steps, one line per layer: gradient norm and update/weight ratio (log
    scales; the ratio's 1e-3 guide drawn), and under them what ``diagnose`` found, stated with
    the number it measured."""

    def __init__(self, series: LayerSeries, *, lang="en"):
        self.series = series
        self.findings = diagnose(series)
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"LayerScalarsDisplay(layers={self.series.names}, findings={len(self.findings)})"

    @classmethod
    def from_recording(cls, rec, *, lang=None, plot=True):
        d = cls(LayerSeries.of(rec), lang=lang)
        return d.plot() if plot else d

    def plot(self, figure=None):
        s, lang = self.series, self.lang
        with use_language(lang):
            fig = figure or new_figure((9, 8.2), layout="constrained")
            ax_g, ax_r = fig.subplots(2, 1, sharex=True)
            colors = layer_colors(len(s.names))
            self.grad_lines_, self.ratio_lines_ = [], []
            for j, (name, color) in enumerate(zip(s.names, colors)):
                label = layer_label(name, lang)
                # log scales: a zero (a dead layer) has no place there; NaN leaves a gap
                g = np.where(s.grad_norm[:, j] > 0, s.grad_norm[:, j], np.nan)
                r = np.where(s.update_ratio[:, j] > 0, s.update_ratio[:, j], np.nan)
                self.grad_lines_.append(ax_g.plot(s.steps, g, color=color, linewidth=1.5, label=label)[0])
                self.ratio_lines_.append(ax_r.plot(s.steps, r, color=color, linewidth=1.5, label=label)[0])
            self.guide_ = ax_r.axhline(RATIO_GUIDE, color="#d62728", linestyle="--", linewidth=1.2,
                                       label=t("rec_guide", lang))
            for ax in (ax_g, ax_r):
                if any(np.isfinite(line.get_ydata()).any() for line in ax.get_lines()):
                    ax.set_yscale("log")
                ax.grid(True, which="major", alpha=0.4)
            ax_g.set_ylabel(t("rec_grad_norm", lang))
            ax_r.set_ylabel(t("rec_update_ratio", lang))
            ax_r.set_xlabel(t("rec_step", lang))
            fig.suptitle(t("rec_layers_title", lang), fontsize=12)
            notes = [finding_text(f, lang) for f in self.findings] or [t("rec_findings_none", lang)]
            self.note_text_ = "\n".join(_wrap(n, 110) for n in notes)
            self.legend_ = legend_below(ax_r, self.ratio_lines_ + [self.guide_],
                                        ncol=min(4, len(self.ratio_lines_) + 1), title=self.note_text_)
            self.axes_ = (ax_g, ax_r)
        self.figure_ = fig
        return self


def _wrap(text: str, width: int) -> str:
    import textwrap

    if any(ord(c) > 0x2E80 for c in text):  # Japanese: no spaces to break at
        return "\n".join(text[i:i + width // 2] for i in range(0, len(text), width // 2))
    return "\n".join(textwrap.wrap(text, width)) or text


def panel_layers(n: int, limit: int = MAX_PANELS) -> list[int]:
    """The layers given a panel: all up to ``limit``, else the first and the last ones."""
    if n <= limit:
        return list(range(n))
    head = limit // 2
    return list(range(head)) + list(range(n - (limit - head), n))


class DistributionDisplay:
    """One panel per layer: the quantile bands of its weights (``kind="weights"``) or gradients
    over the snapshot steps, every snapshot a point on the x axis (step 0 and the last included).
    ``bands_[j]``: (5-95% band, 25-75% band), ``medians_[j]``, ``extremes_[j]`` (min, max lines)."""

    def __init__(self, dists: Distributions, kind: str = "weights", *, lang="en"):
        if kind not in ("weights", "grads"):
            raise ValueError(f"kind must be 'weights' or 'grads'; got {kind!r}")
        self.dists = dists
        self.kind = kind
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"DistributionDisplay({self.kind}, snapshots={len(self.dists.steps)})"

    @classmethod
    def from_recording(cls, rec, kind="weights", *, lang=None, dists=None, plot=True):
        d = cls(dists or Distributions.of(rec), kind, lang=lang)
        return d.plot() if plot else d

    def plot(self, figure=None):
        d, lang = self.dists, self.lang
        shown = panel_layers(len(d.names))
        ncols = min(3, len(shown))
        nrows = -(-len(shown) // ncols)
        data = d.weights if self.kind == "weights" else d.grads
        q = list(d.quantiles)
        i05, i25, i50, i75, i95 = (q.index(v) for v in (0.05, 0.25, 0.5, 0.75, 0.95))
        with use_language(lang):
            fig = figure or new_figure((4.4 * ncols, 3.0 * nrows + 1.4), layout="constrained")
            grid = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
            for ax in grid.ravel()[len(shown):]:
                ax.set_visible(False)
            self.axes_, self.bands_, self.medians_, self.extremes_, self.layers_ = [], [], [], [], shown
            x = d.steps
            for ax, j in zip(grid.ravel(), shown):
                a = data[j]
                wide = ax.fill_between(x, a[:, i05], a[:, i95], color="#4c72b0", alpha=0.2, linewidth=0,
                                       label=t("rec_dist_90", lang))
                iqr = ax.fill_between(x, a[:, i25], a[:, i75], color="#4c72b0", alpha=0.45, linewidth=0,
                                      label=t("rec_dist_iqr", lang))
                med, = ax.plot(x, a[:, i50], color="#1f3a68", marker="o", markersize=3, linewidth=1.4,
                               label=t("rec_dist_median", lang))
                lo, = ax.plot(x, a[:, 0], color="#555", linestyle=":", linewidth=0.9, label=t("rec_dist_range", lang))
                hi, = ax.plot(x, a[:, -1], color="#555", linestyle=":", linewidth=0.9)
                ax.set_title(t("rec_dist_layer", lang, layer=layer_label(d.names[j], lang), n=f"{d.sizes[j]:,}"),
                             fontsize=9)
                ax.grid(True, alpha=0.35)
                ax.tick_params(labelsize=8)
                self.axes_.append(ax)
                self.bands_.append((wide, iqr))
                self.medians_.append(med)
                self.extremes_.append((lo, hi))
            gaps = np.diff(x)
            if len(gaps) >= 3 and gaps[0] * 10 < gaps[-1]:  # log-spaced snapshots: each one visible
                for ax in self.axes_:
                    ax.set_xscale("symlog", linthresh=max(1.0, float(gaps[0])))
            for ax in grid[-1]:
                ax.set_xlabel(t("rec_step", lang), fontsize=9)
            for ax in grid[:, 0]:
                ax.set_ylabel(t("rec_dist_value", lang), fontsize=9)
            key = "rec_dist_weights_title" if self.kind == "weights" else "rec_dist_grads_title"
            fig.suptitle(t(key, lang, n=len(x), first=int(x[0]), last=int(x[-1])), fontsize=12)
            notes = []
            if self.kind == "grads" and len(x) and np.isnan(data[0][-1]).all():
                notes.append(t("rec_dist_no_last_grad", lang, step=int(x[-1])))
            if len(shown) < len(d.names):
                notes.append(t("rec_dist_more_layers", lang, shown=len(shown), total=len(d.names)))
            self.legend_ = fig.legend(handles=[wide, iqr, med, lo], loc="outside lower center", ncol=4, fontsize=8,
                                      title="\n".join(notes) or None, title_fontsize=8)
        self.figure_ = fig
        return self


class SnapshotPathDisplay:
    """The states on a PCA plane, joined in order; each state coloured by its step, the first, the
    last and a few between labelled with their step. ``line_``, ``points_``, ``marks_``."""

    def __init__(self, path: SnapshotPath, *, k: int | None = None, lang="en"):
        self.path = path
        self.k = k
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"SnapshotPathDisplay({self.path!r})"

    @classmethod
    def from_recording(cls, rec, *, lang=None, ax=None, plot=True):
        proj = rec.meta.get("projection") or {}
        d = cls(SnapshotPath.of(rec), k=proj.get("k"), lang=lang)
        return d.plot(ax=ax) if plot else d

    def plot(self, ax=None):
        from . import palette

        p, lang = self.path, self.lang
        with use_language(lang):
            ax = axes_or_new(ax, figsize=(7.5, 6.2))
            c = p.coords
            self.line_, = ax.plot(c[:, 0], c[:, 1], color="#888", linewidth=1.0, zorder=1)
            self.points_ = ax.scatter(c[:, 0], c[:, 1], c=p.steps, cmap=palette.cmap("steps"), s=28,
                                      zorder=2, edgecolors="k", linewidths=0.4)
            cbar = ax.figure.colorbar(self.points_, ax=ax)
            cbar.set_label(t("rec_step", lang))
            marks = sorted(set(np.linspace(0, len(c) - 1, min(len(c), 6)).round().astype(int).tolist()))
            self.marks_ = []
            for i in marks:
                self.marks_.append(ax.annotate(t("rec_step_mark", lang, step=int(p.steps[i])), c[i],
                                               textcoords="offset points", xytext=(6, 6), fontsize=8))
            ax.scatter(c[[0], 0], c[[0], 1], marker="s", s=70, facecolors="none", edgecolors="#2ca02c", zorder=3)
            ax.scatter(c[[-1], 0], c[[-1], 1], marker="*", s=140, color="#d62728", zorder=3)
            ax.set_xlabel(t("rec_pc", lang, n=1, share=f"{p.explained[0]:.0%}"))
            ax.set_ylabel(t("rec_pc", lang, n=2, share=f"{p.explained[1]:.0%}"))
            title = (t("rec_path_title_snapshots", lang, n=len(c)) if p.source == "snapshots"
                     else t("rec_path_title_projection", lang, n=len(c), k=self.k))
            ax.set_title(title, fontsize=10)
            ax.grid(True, alpha=0.35)
        self.ax_, self.figure_ = ax, ax.figure
        return self


RECORDING_FIGURES = ("loss", "layers", "weights", "grads", "path")


def write_recording_figures(rec, out_dir, *, fmt="png", lang=None) -> tuple[list[Path], list[str]]:
    """Write ``loss``, ``layers``, ``weights``, ``grads`` and ``path`` figures of ``rec`` into
    ``out_dir`` (all rendered in memory first, then each moved into place); returns the paths and
    the one-line reasons for the figures left out (a path needs 3 snapshots or a projection)."""
    from ..errors import BackpropvizError
    from ..history import atomic_write
    from .figures import check_format, figure_bytes, gc_paused

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    rendered, skipped = [], []
    with gc_paused():
        rendered.append(("loss", RecordingLossDisplay.from_recording(rec, lang=lang).figure_))
        rendered.append(("layers", LayerScalarsDisplay.from_recording(rec, lang=lang).figure_))
        if rec.snapshot_steps:
            dists = Distributions.of(rec)
            for kind in ("weights", "grads"):
                rendered.append((kind, DistributionDisplay(dists, kind, lang=lang).plot().figure_))
        else:
            skipped.append("weights, grads: the recording has no snapshot yet")
        try:
            rendered.append(("path", SnapshotPathDisplay.from_recording(rec, lang=lang).figure_))
        except BackpropvizError as exc:
            skipped.append(f"path: {exc}")
        blobs = [(name, figure_bytes(fig, fmt)) for name, fig in rendered]
    paths = []
    for name, data in blobs:
        path = Path(out_dir) / f"{name}.{fmt}"
        atomic_write(path, lambda f, data=data: f.write(data))
        paths.append(path)
    return paths, skipped


class RecordingScene:
    """A recording's training in motion (``animate RECORDING``): loss, per-layer gradient norm and
    update/weight ratio with a cursor at the frame's step; each layer's weights and gradients at
    the last snapshot at or before it (boxes: 5-95%, 25-75%, median; each layer scaled by its
    largest |value| over the snapshots, which its label gives); the PCA path with the state
    marked. ``update(row)`` (row = state 0..T) moves those artists and returns them."""

    def __init__(self, rec, *, lang=None):
        self.lang = resolve_lang(lang)
        self.series = LayerSeries.of(rec)
        self.loss = rec.loss
        self.status = rec.status
        self.dists = Distributions.of(rec) if rec.snapshot_steps else None
        try:
            self.path = SnapshotPath.of(rec)
        except Exception:  # noqa: BLE001  (a BackpropvizError: too few snapshots; the panel says so)
            self.path = None
        self.total = len(self.series.steps)
        self._build()

    def __repr__(self) -> str:
        return f"RecordingScene(steps={self.total}, layers={len(self.series.names)})"

    def _build(self):
        from matplotlib.patches import Rectangle

        s, lang = self.series, self.lang
        with use_language(lang):
            fig = new_figure((15, 8.4), layout="constrained")
            axes = fig.subplots(2, 3)
            (ax_l, ax_g, ax_r), (ax_w, ax_d, ax_p) = axes
            RecordingLossDisplay(s.steps, self.loss, status=self.status, lang=lang).plot(ax=ax_l)
            ax_l.set_title(t("rec_loss_label", lang), fontsize=10)
            colors = layer_colors(len(s.names))
            for ax, values, key in ((ax_g, s.grad_norm, "rec_grad_norm"), (ax_r, s.update_ratio, "rec_update_ratio")):
                for j, color in enumerate(colors):
                    v = np.where(values[:, j] > 0, values[:, j], np.nan)
                    ax.plot(s.steps, v, color=color, linewidth=1.3, label=layer_label(s.names[j], lang))
                if np.isfinite(np.where(values > 0, values, np.nan)).any():
                    ax.set_yscale("log")
                ax.set_title(t(key, lang), fontsize=10)
                ax.set_xlabel(t("rec_step", lang))
                ax.grid(True, alpha=0.35)
            ax_r.axhline(RATIO_GUIDE, color="#d62728", linestyle="--", linewidth=1.1, label=t("rec_guide", lang))
            ax_r.legend(fontsize=7, loc="best")
            self.cursors_ = [ax.axvline(0, color="#d62728", linewidth=1.5) for ax in (ax_l, ax_g, ax_r)]
            self.boxes_ = {}
            for ax, kind in ((ax_w, "weights"), (ax_d, "grads")):
                self.boxes_[kind] = []
                if self.dists is None:
                    ax.text(0.5, 0.5, "no snapshot", ha="center", va="center", transform=ax.transAxes)
                    continue
                data = self.dists.weights if kind == "weights" else self.dists.grads
                names = []
                for j, a in enumerate(data):
                    scale = float(np.nanmax(np.abs(a))) if np.isfinite(a).any() else 1.0
                    scale = scale or 1.0
                    wide = ax.add_patch(Rectangle((0, j - 0.3), 0, 0.6, color="#4c72b0", alpha=0.3, linewidth=0))
                    iqr = ax.add_patch(Rectangle((0, j - 0.2), 0, 0.4, color="#4c72b0", alpha=0.8, linewidth=0))
                    med, = ax.plot([0, 0], [j - 0.35, j + 0.35], color="#1f3a68", linewidth=2)
                    rng, = ax.plot([0, 0], [j, j], color="#555", linewidth=1)
                    self.boxes_[kind].append((scale, wide, iqr, med, rng, a))
                    names.append(f"{layer_label(self.dists.names[j], lang)} (±{scale:.2g})")
                ax.set_yticks(range(len(names)), names, fontsize=8)
                ax.set_ylim(len(names) - 0.5, -0.5)
                ax.set_xlim(-1.05, 1.05)
                ax.set_xlabel(t("rec_value_scaled", lang))
                ax.grid(True, axis="x", alpha=0.35)
            ax_w.set_title(t("rec_dist_weights_title", lang, n=len(self.dists.steps) if self.dists else 0,
                             first=0, last=self.total).split("(")[0], fontsize=10)
            ax_d.set_title(t("rec_dist_grads_title", lang, n=0, first=0, last=0).split("(")[0], fontsize=10)
            self.snap_label_ = ax_w.text(0.99, 0.01, "", transform=ax_w.transAxes, fontsize=8, ha="right", va="bottom")
            self.no_grad_ = ax_d.text(0.5, 0.5, t("page_rec_no_grad", lang), ha="center", va="center",
                                      transform=ax_d.transAxes, fontsize=10, visible=False)
            self.marker_ = None
            if self.path is not None:
                c = self.path.coords
                ax_p.plot(c[:, 0], c[:, 1], color="#888", linewidth=1)
                ax_p.scatter(c[:, 0], c[:, 1], c=self.path.steps, cmap=self._steps_cmap(), s=14, zorder=2)
                self.marker_, = ax_p.plot([c[0, 0]], [c[0, 1]], "o", markersize=11, markerfacecolor="none",
                                          markeredgecolor="#d62728", markeredgewidth=2, zorder=3)
                ax_p.set_xlabel(t("rec_pc", lang, n=1, share=f"{self.path.explained[0]:.0%}"))
                ax_p.set_ylabel(t("rec_pc", lang, n=2, share=f"{self.path.explained[1]:.0%}"))
                ax_p.grid(True, alpha=0.35)
            else:
                ax_p.text(0.5, 0.5, t("page_rec_omit_path", lang), ha="center", va="center", wrap=True,
                          transform=ax_p.transAxes, fontsize=8)
            ax_p.set_title(t("page_view_snappath", lang), fontsize=10)
            self.label_ = fig.suptitle("", fontsize=12)
        self.figure_ = fig

    @staticmethod
    def _steps_cmap():
        from . import palette

        return palette.cmap("steps")

    def update(self, row: int):
        from ..analysis.recording_views import nearest_snapshot

        lang = self.lang
        row = int(row)
        changed = []
        for cursor in self.cursors_:
            cursor.set_xdata([row, row])
            changed.append(cursor)
        text = t("rec_step_mark", lang, step=row) + f" / {self.total}"
        if row < self.total:  # state T is after the last step: no step's loss belongs to it
            text += " · " + t("loss_value", lang) + f" {self.loss[row]:.4g}"
        self.label_.set_text(text)
        changed.append(self.label_)
        if self.dists is not None:
            i = nearest_snapshot(self.dists.steps, row)
            q = list(self.dists.quantiles)
            i05, i25, i50, i75, i95 = (q.index(v) for v in (0.05, 0.25, 0.5, 0.75, 0.95))
            for kind, boxes in self.boxes_.items():
                for scale, wide, iqr, med, rng, a in boxes:
                    v = a[i] / scale
                    ok = np.isfinite(v).all()
                    for artist in (wide, iqr, med, rng):
                        artist.set_visible(bool(ok))
                    if ok:
                        wide.set_x(v[i05]); wide.set_width(v[i95] - v[i05])
                        iqr.set_x(v[i25]); iqr.set_width(v[i75] - v[i25])
                        med.set_xdata([v[i50], v[i50]])
                        rng.set_xdata([v[0], v[-1]])
                    changed += [wide, iqr, med, rng]
            self.no_grad_.set_visible(not np.isfinite(self.dists.grads[0][i]).all())
            changed.append(self.no_grad_)
            self.snap_label_.set_text(t("rec_snapshot_mark", lang, step=int(self.dists.steps[i])))
            changed.append(self.snap_label_)
        if self.marker_ is not None:
            j = nearest_snapshot(self.path.steps, row)
            self.marker_.set_data([self.path.coords[j, 0]], [self.path.coords[j, 1]])
            changed.append(self.marker_)
        return changed
