"""Which views a run gets, and writing any of them to files (what ``run`` and ``plot`` call).

>>> write_views(history, "out", ["probability", "network"], lang="ja")   # doctest: +SKIP
[PosixPath('out/probability.png'), PosixPath('out/network.png')]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import BackpropvizError, choice_error

# name -> file stem
VIEWS = {
    "overview": "overview",          # the article's 2x2 figure (two-input perceptron)
    "loss": "loss_curve",            # the loss of each step's batch
    "probability": "probability",    # predicted probability over the input plane, small multiples
    "hidden": "hidden_units",        # each hidden unit's output over the input plane
    "network": "network",            # weights as a diagram
    "trajectories": "trajectories",  # parameters layer by layer
    "gradients": "gradient_norms",   # per-layer gradient norms
    "metrics": "metrics",            # train/test loss and accuracy per epoch
    "first-layer": "first_layer",    # the first layer's weights as images (image inputs: digits)
    "prediction": "prediction",      # a regression's predicted value over the input plane
}


@dataclass(frozen=True)
class RunShape:
    """What decides which views apply: the model and the data's shape."""

    perceptron: bool  # the article's kind: parameters w1, ..., b (one sigmoid output)
    hidden_layers: int
    n_features: int
    image_inputs: bool = False  # the inputs form an image (pixel_R_C: digits)
    regression: bool = False  # a number to predict, not classes

    def __post_init__(self):
        if self.regression:  # the article's kind classifies: its figures draw a boundary
            object.__setattr__(self, "perceptron", False)

    @property
    def article_like(self) -> bool:
        return self.perceptron and self.n_features == 2

    @classmethod
    def of_history(cls, history) -> "RunShape":
        names = list(history.param_names)
        perceptron = bool(names) and names[-1] == "b" and all(n.startswith("w") for n in names[:-1])
        try:
            from ..analysis.views import layers

            hidden = len(layers(names)) - 1
        except BackpropvizError:
            hidden = 0
        from ..analysis.views import image_shape
        from ..train import is_regression

        n = int(history.X.shape[1])
        return cls(perceptron, hidden, n, image_shape(history.feature_names, n) is not None, is_regression(history))

    @classmethod
    def of_config(cls, config, n_features: int, n_classes: int, feature_names=None,
                  regression: bool = False) -> "RunShape":
        from ..analysis.views import image_shape
        from ..models import parse_spec

        name, hidden = parse_spec(config.model)
        return cls(name == "perceptron" and n_classes <= 2, len(hidden), int(n_features),
                   image_shape(feature_names, int(n_features)) is not None, regression)


def default_views(shape: RunShape, has_test: bool = False) -> list[str]:
    """The article's figures for a two-input perceptron; the network views otherwise."""
    if shape.article_like:
        return ["overview", "loss"] + (["metrics"] if has_test else [])
    views = []
    if shape.n_features == 2:
        views.append("prediction" if shape.regression else "probability")
        if shape.hidden_layers:
            views.append("hidden")
    if shape.image_inputs:
        views.append("first-layer")
    return views + ["network", "trajectories", "gradients", "metrics"]


def parse_views(text: str | None) -> list[str] | None:
    """``"probability,network"`` -> the names, checked; ``all`` -> every view; None -> None."""
    if text is None or not str(text).strip():
        return None
    names = [v.strip().lower() for v in str(text).split(",") if v.strip()]
    if names == ["all"]:
        return ["all"]
    for name in names:
        if name not in VIEWS:
            raise choice_error("view", name, [*VIEWS, "all"])
    return list(dict.fromkeys(names))


def check_views(views, shape: RunShape, *, has_test: bool = False) -> list[str]:
    """The views to draw: ``None`` -> the defaults; ``["all"]`` -> every view that applies;
    otherwise the given ones, refusing any that cannot apply to this run."""
    if views is None:
        return default_views(shape, has_test)
    if list(views) == ["all"]:
        return [v for v in VIEWS if _why_not(v, shape) is None]
    for v in views:
        reason = _why_not(v, shape)
        if reason:
            raise BackpropvizError(f"--views {v}: {reason}")
    return list(views)


def _why_not(view: str, shape: RunShape) -> str | None:
    if view == "overview" and not shape.article_like:
        return "the article's overview needs a two-input perceptron on two-class data (--model perceptron)"
    if view == "probability" and shape.regression:
        return "draws classes and their probabilities; a regression run has the prediction view (--views prediction)"
    if view == "prediction" and not shape.regression:
        return "draws a regression's predicted value; a classification run has the probability view"
    if view in ("probability", "hidden", "prediction") and shape.n_features != 2:
        return (f"draws the input plane and needs 2 input features; this run has {shape.n_features} "
                "(use --features pca or two column names)")
    if view == "hidden" and not shape.hidden_layers:
        return "needs a model with hidden layers (e.g. --model mlp:4)"
    if view == "first-layer" and not shape.image_inputs:
        return ("draws each first-layer unit's weights as an image and needs image inputs (pixels named "
                f"pixel_R_C, e.g. --data digits); this run has {shape.n_features} inputs that are not one")
    return None


@dataclass
class ViewOptions:
    """Per-view settings; None means the view's default."""

    boundary_epochs: list[int] | None = None  # overview boundaries and probability small multiples
    network_epochs: list[int] | None = None
    hidden_epoch: int | None = None
    resolution: int = 120  # grid points per axis of the input plane
    span: float = 8.0  # the overview's loss surface
    surface_resolution: int = 50
    x_range: tuple[float, float] | None = None
    y_range: tuple[float, float] | None = None


def render_view(history, view: str, fmt: str, lang: str, options: ViewOptions) -> bytes:
    """One view of ``history`` encoded as ``fmt``."""
    from .fonts import use_language

    # Axes take their title font when they are made, so the language's font must be in force
    # from the figure's creation to its encoding.
    with use_language(lang):
        return _render_view(history, view, fmt, lang, options)


def _render_view(history, view: str, fmt: str, lang: str, options: ViewOptions) -> bytes:
    from .base import new_figure, note_diverged
    from .figures import LOSS_CURVE_FIGSIZE, LOSS_CURVE_MARGINS, figure_bytes

    if view == "overview":
        from .overview import OverviewFigure

        fig = OverviewFigure.from_history(
            history, boundary_epochs=options.boundary_epochs, span=options.span,
            resolution=options.surface_resolution, x_range=options.x_range, y_range=options.y_range,
            lang=lang).figure_
    elif view == "loss":
        from .loss import LossCurveDisplay

        fig = new_figure(LOSS_CURVE_FIGSIZE)
        fig.subplots_adjust(**LOSS_CURVE_MARGINS)
        LossCurveDisplay.from_history(history, lang=lang, ax=fig.add_subplot())
    elif view == "probability":
        from .probability import ProbabilityMapDisplay

        fig = ProbabilityMapDisplay.from_history(history, options.boundary_epochs,
                                                 resolution=options.resolution, lang=lang).figure_
    elif view == "hidden":
        from .hidden import HiddenUnitsDisplay

        fig = HiddenUnitsDisplay.from_history(history, options.hidden_epoch,
                                              resolution=max(2, options.resolution * 2 // 3), lang=lang).figure_
    elif view == "network":
        from .network import NetworkDiagramDisplay

        fig = NetworkDiagramDisplay.from_history(history, options.network_epochs, lang=lang).figure_
    elif view == "trajectories":
        from .trajectories import GroupedTrajectoryDisplay

        fig = GroupedTrajectoryDisplay.from_history(history, lang=lang).figure_
    elif view == "gradients":
        from .gradnorms import GradientNormDisplay

        fig = GradientNormDisplay.from_history(history, lang=lang).figure_
    elif view == "metrics":
        from .metrics import MetricsDisplay

        fig = MetricsDisplay.from_history(history, lang=lang).figure_
    elif view == "prediction":
        from .regression import PredictionMapDisplay

        fig = PredictionMapDisplay.from_history(history, options.boundary_epochs, resolution=options.resolution,
                                                lang=lang).figure_
    elif view == "first-layer":
        from .firstlayer import FirstLayerDisplay

        fig = FirstLayerDisplay.from_history(history, options.boundary_epochs, lang=lang).figure_
    else:
        raise choice_error("view", view, VIEWS)
    note_diverged(fig, history, lang)
    return figure_bytes(fig, fmt)


def write_views(history, out_dir, views, *, fmt="png", lang=None, options: ViewOptions | None = None) -> list[Path]:
    """Write each of ``views`` as ``<out_dir>/<file stem>.<fmt>``.

    Every figure is rendered in memory first; files are moved into place atomically only when
    all of them rendered, so a failure leaves nothing half-written.
    """
    from ..history import atomic_write
    from ..i18n import resolve_lang
    from .figures import check_format, gc_paused
    from .fonts import use_language

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    options = options or ViewOptions()
    rendered = []
    with gc_paused(), use_language(lang):
        for view in views:
            rendered.append((f"{VIEWS[view]}.{fmt}", render_view(history, view, fmt, lang, options)))
    paths = []
    for name, data in rendered:
        path = Path(out_dir) / name
        atomic_write(path, lambda f, data=data: f.write(data))
        paths.append(path)
    return paths
