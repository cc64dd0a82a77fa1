"""Figures of a run that diverged say so, on every view; epoch axes end at the last epoch."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.history import History  # noqa: E402
from backpropviz.render import figures  # noqa: E402
from backpropviz.render.base import diverged_step  # noqa: E402
from backpropviz.train import train  # noqa: E402


@pytest.fixture(scope="module")
def diverged_perceptron():
    h = train(RunConfig(epochs=20))
    h.status = "diverged at step 20: the update made a parameter infinite or NaN"
    return h


@pytest.fixture(scope="module")
def diverged_mlp():
    h = train(RunConfig(data="xor", model="mlp:3", activation="tanh", epochs=30))
    h.status = "diverged at step 30: loss is inf"
    return h


def texts(fig):
    return [a.get_text() for a in fig.findobj(matplotlib.text.Text) if a.get_text()]


def test_diverged_step_reads_the_status():
    h = train(RunConfig(epochs=2))
    assert diverged_step(h) is None
    h.status = "diverged at step 17: loss is nan"
    assert diverged_step(h) == 17


@pytest.mark.parametrize("lang, note", [
    ("en", "This run diverged at step 30: shown are the 30 steps before it, the last finite ones."),
    ("ja", "この学習はステップ 30 で発散した。図はその前の有限な 30 ステップを示す。")])
def test_every_view_of_a_diverged_mlp_says_where_it_diverged(diverged_mlp, drawn, tmp_path, lang, note):
    from backpropviz.render.views import VIEWS, write_views

    views = [v for v in VIEWS if v not in ("overview", "first-layer")]
    write_views(diverged_mlp, tmp_path, views, lang=lang)
    assert len(drawn) == len(views)
    for view, fig in zip(views, drawn):
        assert any(note in s for s in texts(fig)), (view, texts(fig))


def test_plot_of_a_diverged_perceptron_says_so_on_both_figures(diverged_perceptron, drawn, cli, tmp_path):
    path = diverged_perceptron.save(tmp_path / "h.npz")
    r = cli("plot", path, "--out", tmp_path / "out", "--lang", "en")
    assert r.code == 0, r
    assert len(drawn) == 2  # overview and loss curve
    note = "This run diverged at step 20: shown are the 20 steps before it, the last finite ones."
    for fig in drawn:
        assert note in texts(fig)
        for ax in fig.axes:  # the note sits in its own strip, under every panel
            assert ax.get_position().y0 > 0.2 / fig.get_figheight()


def test_a_run_that_diverged_at_its_first_step_draws_no_made_up_losses(drawn, tmp_path):
    from backpropviz.render.loss import LossCurveDisplay

    h = train(RunConfig(epochs=1))
    empty = History(params=h.params[:1], grads=h.grads[:0], loss=h.loss[:0], epoch=h.epoch[:0],
                    param_names=h.param_names, X=h.X, y=h.y, config=h.config,
                    status="diverged at step 0: the update made a parameter infinite or NaN")
    d = LossCurveDisplay.from_history(empty)
    assert d.note_.get_text() == "no step completed before the run diverged"
    assert d.ax_.get_ylim()[0] >= 0 and d.ax_.get_xlim() == (0.0, 1.0)  # no negative losses or epochs
    figures.write_run_figures(empty, tmp_path, lang="en")
    assert all("This run diverged at its first step (step 0): no step completed." in texts(f) for f in drawn)


def test_epoch_axes_stop_at_the_last_epoch():
    from backpropviz.render.loss import LossCurveDisplay
    from backpropviz.render.metrics import MetricsDisplay
    from backpropviz.render.params import ParamTrajectoryDisplay
    from backpropviz.render.trajectories import GroupedTrajectoryDisplay

    h = train(RunConfig(epochs=1000))
    assert ParamTrajectoryDisplay.from_history(h).ax_.get_xlim() == (0.0, 1000.0)
    assert LossCurveDisplay.from_history(h).ax_.get_xlim() == (0.0, 1000.0)
    mlp = train(RunConfig(data="xor", model="mlp:2", epochs=40, batch_size=2))
    from backpropviz.render.gradnorms import GradientNormDisplay

    for ax in (MetricsDisplay.from_history(mlp).axes_ + GroupedTrajectoryDisplay.from_history(mlp).axes_
               + [GradientNormDisplay.from_history(mlp).ax_]):
        assert ax.get_xlim() == (0.0, 40.0)
