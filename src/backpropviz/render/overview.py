"""The article's 2x2 overview: boundary, parameters, loss contours, 3D surface."""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang, t
from .base import epoch_axis, fmt_epoch, new_figure, require_perceptron, title_fields
from .boundary import BoundaryDisplay
from .fonts import use_language
from .params import ParamTrajectoryDisplay
from .surface import (LossContourDisplay, LossSurface3DDisplay, actual_path_loss,
                      fixed_path_from_history)

FIGSIZE = (14, 12)  # inches, the article's size
# Room left beyond the path's extreme points, as a fraction of the window's width: the start's
# star and the end's cross are drawn whole.
MARKER_ROOM = 0.06
WINDOW_LIMIT = 1e38  # a widened window stays inside float32's range, as --surface-range must


def window_holding(center: float, span: float, values) -> tuple[float, float]:
    """``center +- span``, widened (never narrowed) so that every finite value of ``values``
    lies inside with ``MARKER_ROOM`` to spare.

    >>> window_holding(-7.2, 8.0, [1.0, -7.2])   # NOR: the start w2 = 1 beyond -7.2 + 8
    (-15.2, 1.972)
    >>> window_holding(1e30, 8.0, [1e30])         # a blown-up run: still a window, not a point
    (9.99e+29, 1.001e+30)
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    # A centre at float32's limits stays inside them, and the span stays one that float64 can
    # tell from the centre (w = 1e30 +- 8 would be an empty window).
    center = float(np.clip(center, -WINDOW_LIMIT, WINDOW_LIMIT))
    span = max(float(span), 1e-3 * abs(center))
    lo, hi = center - span, center + span
    if values.size == 0:
        return lo, hi
    room = MARKER_ROOM * (max(hi, values.max()) - min(lo, values.min()))
    # a path that blew up to float32's limits: the grid's points must stay float32 numbers
    lo, hi = min(lo, float(values.min()) - room), max(hi, float(values.max()) + room)
    return float(max(lo, -WINDOW_LIMIT)), float(min(hi, WINDOW_LIMIT))
# Margins (figure fractions) that leave room for the suptitle, the axis labels and the notes
# under the two loss panels, in both languages.
GRID = dict(left=0.06, right=0.975, top=0.925, bottom=0.115, wspace=0.2, hspace=0.32)


class OverviewFigure:
    """Compose the four graphs of the article on one figure, under its suptitle.

    >>> fig = OverviewFigure.from_history(history, lang="ja").figure_   # doctest: +SKIP
    """

    def __init__(self, history, landscape, actual_loss, *, actual_label_key="path_actual",
                 boundary_epochs=None, lang="en"):
        self.history, self.landscape, self.actual_loss = history, landscape, actual_loss
        self.actual_label_key = actual_label_key
        self.boundary_epochs = boundary_epochs
        self.lang = resolve_lang(lang)

    def __repr__(self) -> str:
        return f"OverviewFigure({self.history!r}, lang={self.lang!r})"

    @classmethod
    def from_history(cls, history, *, landscape=None, boundary_epochs=None, x_param="w1",
                     y_param="w2", span=8.0, resolution=50, x_range=None, y_range=None,
                     lang=None, plot=True, step=None):
        """Compute the slice (unless ``landscape`` is given) and the loss along the path.

        ``step``: draw the run as it stood after that many steps (the frame an animation shows
        there: the whole run's window and legends, the curves and the path up to that row, the
        step and epoch in the top left corner); None draws the finished run."""
        from ..analysis.landscape import param_plane

        require_perceptron(history, "overview")
        if landscape is None:
            # the article's window (final values +- span), widened where the path leaves it
            final = history.params[-1].astype(np.float64)
            path = history.params.astype(np.float64)
            ix, iy = history.index(x_param), history.index(y_param)
            x_range = x_range or window_holding(final[ix], span, path[:, ix])
            y_range = y_range or window_holding(final[iy], span, path[:, iy])
            landscape = param_plane(history, x_param, y_param, span=span, resolution=resolution,
                                    x_range=x_range, y_range=y_range)
        actual, label_key = actual_path_loss(history, landscape)
        display = cls(history, landscape, actual, actual_label_key=label_key,
                      boundary_epochs=boundary_epochs, lang=lang)
        if not plot:
            return display
        display.plot()
        if step is not None:
            display.update(int(step))
        return display

    def plot(self, fig=None):
        """Draw the four panels; keeps ``figure_`` and the four displays
        (``boundary_``, ``params_``, ``contour_``, ``surface_``)."""
        h, lang = self.history, self.lang
        with use_language(lang):
            # Fixed margins rather than a layout engine: constrained layout measures every text
            # once more before drawing, which costs a third of the drawing time here.
            fig = fig if fig is not None else new_figure(FIGSIZE)
            kind, fields = title_fields(h.config)
            self.suptitle_ = fig.suptitle(t(f"suptitle_{kind}", lang, **fields), fontsize=20, y=0.985)
            grid = fig.add_gridspec(2, 2, **GRID)
            axes = [fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]),
                    fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1], projection="3d")]
            for ax, k in zip(axes, range(1, 5)):
                ax.set_title(t(f"graph{k}_title", lang), fontsize=14)
            fixed_path = fixed_path_from_history(h, self.landscape)
            self.boundary_ = BoundaryDisplay.from_history(h, self.boundary_epochs, lang=lang, ax=axes[0])
            self.params_ = ParamTrajectoryDisplay.from_history(h, lang=lang, ax=axes[1])
            self.contour_ = LossContourDisplay.from_landscape(
                self.landscape, fixed_path=fixed_path, lang=lang, ax=axes[2])
            self._legend_off_the_path(self.contour_)
            label = t(self.actual_label_key, lang)
            self.surface_ = LossSurface3DDisplay.from_landscape(
                self.landscape, actual_loss=self.actual_loss, actual_label=label,
                fixed_path=fixed_path, lang=lang, ax=axes[3])
        self.axes_, self.figure_ = axes, fig
        self.frame_label_ = None
        return self

    def update(self, row: int):
        """Show the run at params row ``row`` (0: the start; the last: the figure ``plot`` drew,
        plus the corner label): each panel's display moves its own artists. Returns the artists
        changed, for blitting."""
        h = self.history
        if not 0 <= row <= h.n_steps:
            raise ValueError(f"row must be in 0..{h.n_steps}; got {row}")
        changed = [*self.boundary_.update(row), *self.params_.update(row), *self.contour_.update(row),
                   *self.surface_.update(row)]
        text = t("anim_frame_label", self.lang, step=row, steps=h.n_steps,
                 epoch=fmt_epoch(epoch_axis(h.epoch)[row]))
        if self.frame_label_ is None:  # made once, on the first update
            with use_language(self.lang):
                self.frame_label_ = self.figure_.text(0.01, 0.99, text, ha="left", va="top", fontsize=13,
                                                      color="0.15", bbox=dict(boxstyle="round,pad=0.3",
                                                                              facecolor="white", edgecolor="0.7"))
        self.frame_label_.set_text(text)
        return [*changed, self.frame_label_]

    @staticmethod
    def _legend_off_the_path(contour) -> None:
        """Move the contour's legend where it hides neither the start nor the end marker, and
        as little of the path as it can."""
        from .boundary import place_legend

        ax = contour.ax_
        ax.apply_aspect()  # the final box, as drawn
        handles = contour.legend_.legend_handles
        contour.legend_.remove()
        radius = max(contour.start_.get_markersize(), contour.end_.get_markersize()) / 2
        contour.legend_ = place_legend(ax, handles, [contour.start_, contour.end_], [contour.path_],
                                       pad_points=radius, fontsize="small")
