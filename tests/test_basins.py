"""Multi-start trainer against the single-run trainer, and the convergence map's bookkeeping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backpropviz.analysis.basins import basin_map, cluster_finals, steps_to_threshold, train_many, BasinMap
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.models import get_flat
from backpropviz.train import prepare, train

PERCEPTRON_STARTS = np.array([[-1, 1, 0], [2, 3, -1], [0.5, -2, 1], [-4, -4, 2]], dtype=np.float32)


def single_runs(config, starts):
    return [train(RunConfig.from_dict({**config.to_dict(), "init": [float(v) for v in s]})) for s in starts]


@pytest.mark.parametrize("config", [
    RunConfig(epochs=300),  # the article's settings
    RunConfig(epochs=40, batch_size=2, optimizer="momentum", lr=0.3),  # mini-batches, momentum
    RunConfig(epochs=60, optimizer="adam", lr=0.05, l2=0.01, data="or"),
], ids=["article-sgd", "minibatch-momentum", "adam-l2"])
def test_perceptron_starts_reproduce_single_runs_bit_for_bit(config):
    run = train_many(config, PERCEPTRON_STARTS, record_params=True)
    for k, h in enumerate(single_runs(config, PERCEPTRON_STARTS)):
        np.testing.assert_array_equal(run.params[k], h.params)
        np.testing.assert_array_equal(run.loss[k], h.loss)
        np.testing.assert_array_equal(run.final[k], h.params[-1])


def test_mlp_starts_reproduce_single_runs():
    config = RunConfig(model="mlp:3", data="xor", epochs=80, init=None, optimizer="adam", lr=0.05)
    _, _, model = prepare(config)
    f = get_flat(model).numpy()
    starts = np.stack([f, 0.5 * f, -f + 0.1])
    run = train_many(config, starts, record_params=True)
    for k, h in enumerate(single_runs(config, starts)):
        # batched matrix products round differently from single ones: equal to float32 rounding
        np.testing.assert_allclose(run.params[k], h.params, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(run.loss[k], h.loss, rtol=1e-4, atol=1e-6)


def test_final_accuracy_matches_the_trained_model():
    config = RunConfig(epochs=100)
    run = train_many(config, PERCEPTRON_STARTS)
    for k, h in enumerate(single_runs(config, PERCEPTRON_STARTS)):
        from backpropviz.train import predict
        probs = predict(h)
        acc = np.mean((probs >= 0.5) == (h.y == 1))
        assert run.accuracy[k] == pytest.approx(acc)


def test_steps_to_threshold():
    loss = np.array([[1.0, 0.5, 0.05, 0.01], [1.0, 0.9, 0.8, 0.7], [0.01, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(steps_to_threshold(loss, 0.1), [2, -1, 0])


def test_clusters_separate_two_groups():
    rng = np.random.default_rng(0)
    a = rng.normal(0, 0.01, (30, 4)) + [1, 1, 0, 0]
    b = rng.normal(0, 0.01, (10, 4)) + [-1, 0, 2, 0]
    labels, centres = cluster_finals(np.concatenate([a, b]), np.ones(40, bool))
    assert set(labels[:30]) == {0} and set(labels[30:]) == {1}
    np.testing.assert_allclose(centres[0], a.mean(0))
    labels, _ = cluster_finals(np.concatenate([a, b]), np.r_[np.ones(39, bool), False])
    assert labels[-1] == -1


def test_basin_map_of_the_article(tmp_path):
    bm = basin_map(RunConfig(epochs=200), resolution=6, span=4.0, threshold=0.2)
    assert bm.final_loss.shape == (6, 6)
    # the start at grid point (j, i) is (alpha[i], beta[j]) with b at its initial value 0
    j, i = 2, 4
    h = train(RunConfig(epochs=200, init=(float(bm.alpha[i]), float(bm.beta[j]), 0.0)))
    from backpropviz.analysis.landscape import losses_along_path
    assert bm.final_loss[j, i] == pytest.approx(losses_along_path(h)[-1], rel=1e-6)
    below = np.flatnonzero(h.loss < 0.2)
    assert bm.steps_to_threshold[j, i] == (below[0] if len(below) else -1)
    assert bm.config["fixed"] == {"b": 0.0}
    back = BasinMap.load(bm.save(tmp_path / "b.npz"))
    np.testing.assert_array_equal(back.final_loss, bm.final_loss)


def test_memory_refusal_names_what_fits():
    with pytest.raises(BackpropvizError, match="starts fit"):
        train_many(RunConfig(epochs=1000), np.zeros((4096, 3), np.float32), record_params=True,
                   memory_budget=1 << 20)
    with pytest.raises(BackpropvizError, match="starts must be"):
        train_many(RunConfig(), np.zeros((4, 5), np.float32))
    with pytest.raises(BackpropvizError, match="no parameter"):
        basin_map(RunConfig(), x_name="w7")


def test_divergent_starts_are_frozen_and_reported_where_the_single_run_stops():
    from backpropviz.data import Dataset
    from backpropviz.errors import TrainingDiverged

    # Inputs so large that an SGD step of lr 1e10 overflows w1 (the loss stays finite: BCE clamps).
    huge = Dataset("huge", np.array([[1e30, 1], [2e30, 1], [3e30, 1], [4e30, 1]], dtype=np.float32),
                   np.array([0, 0, 1, 1], dtype=np.float32))
    config = RunConfig(lr=1e10, epochs=5)
    starts = np.array([[0, 0, 0], [0, 0, 0]], dtype=np.float32)
    run = train_many(config, starts, dataset=huge)
    with pytest.raises(TrainingDiverged) as caught:
        train(RunConfig(lr=1e10, epochs=5, init=(0, 0, 0)), dataset=huge)
    stopped = caught.value.history.n_steps  # the single run keeps the steps before the bad update
    np.testing.assert_array_equal(run.diverged_at, [stopped, stopped])
    assert np.all(np.isfinite(run.final))  # frozen at the last finite parameters
    np.testing.assert_array_equal(run.final[0], caught.value.history.params[-1])
    assert np.all(np.isnan(run.final_loss))


def test_basin_map_along_random_directions():
    from backpropviz.analysis.directions import parameter_shapes, random_directions

    config = RunConfig(model="mlp:3", data="xor", epochs=30, init=None, lr=0.5)
    bm = basin_map(config, method="random", resolution=3, span=0.5, seed=4)
    _, _, model = prepare(config)
    init = get_flat(model).double().numpy()
    d = random_directions(init, parameter_shapes(model), seed=4)
    np.testing.assert_allclose(bm.directions, d)
    np.testing.assert_allclose(bm.alpha, [-0.5, 0, 0.5])
    # the corner start (alpha[0], beta[2]) trained alone gives the same final loss
    start = init + bm.alpha[0] * d[0] + bm.beta[2] * d[1]
    run = train_many(config, start[None].astype(np.float32))
    assert bm.final_loss[2, 0] == pytest.approx(run.final_loss[0], rel=1e-5)
    assert bm.config["fixed"] == {} and bm.config["method"] == "random"
    with pytest.raises(BackpropvizError, match="--x-param"):
        basin_map(config, method="random", x_name="2.bias[0]", resolution=2)


# -- the verdicts: one minimum or several, solved or stuck, reached or not --------------------------


def test_cluster_radius_is_a_tenth_of_the_parameters_size_just_inside_and_outside():
    # median norm of the finals is 10 (two of three at (10, 0, 0)): finals closer than 1.0 are one minimum
    for d, clusters in ((0.999, 1), (1.001, 2)):
        final = np.array([[10.0, 0, 0], [10.0, 0, 0], [10.0, d, 0]])
        labels, centres = cluster_finals(final, np.ones(3, bool))
        assert len(centres) == clusters, d
        # the scale is the parameters' size, not their spread: a thousand times larger, the same count
        assert len(cluster_finals(1000 * final, np.ones(3, bool))[1]) == clusters


def test_finals_that_differ_only_by_rounding_are_one_cluster():
    rng = np.random.default_rng(1)
    around = np.array([5.0, -3.0, 1.0]) + rng.normal(0, 4e-5, (50, 3))  # the AND + L2 finals' spread
    assert len(cluster_finals(around, np.ones(50, bool))[1]) == 1
    near_zero = rng.normal(0, 1e-7, (50, 3))  # a perceptron stuck on XOR: weights of ~1e-7
    assert len(cluster_finals(near_zero, np.ones(50, bool))[1]) == 1


def test_convex_problem_has_one_cluster():
    # AND, perceptron, L2: strictly convex, one minimum; the spread-relative radius found two here
    bm = basin_map(RunConfig(l2=0.01, epochs=2000), resolution=5)
    assert len(bm.cluster_centers) == 1
    assert set(np.unique(bm.cluster)) == {0}


def test_steps_to_threshold_just_inside_and_outside():
    threshold = 0.1
    just_below = np.nextafter(threshold, 0)
    loss = np.array([[1.0, threshold, threshold], [1.0, 0.5, just_below]])
    np.testing.assert_array_equal(steps_to_threshold(loss, threshold), [-1, 2])  # "loss < threshold"


def test_solved_just_inside_and_outside_the_accuracy_threshold():
    from backpropviz.data import Dataset

    # w = (1, 0), b = -0.5: x1 >= 0.5 is predicted 1; 7 of the 10 labels agree
    X = np.array([[0, 0], [0.1, 0], [0.2, 0], [0.3, 0], [0.4, 0], [0.6, 0], [0.7, 0], [0.8, 0], [0.9, 0], [1, 0]],
                 dtype=np.float32)
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1, 0, 0], dtype=np.float32)
    data = Dataset("seven", X, y)
    config = RunConfig(epochs=1, lr=1e-9, init=(1.0, 0.0, -0.5))
    grid = dict(resolution=2, x_range=(1.0, 1.0), y_range=(0.0, 0.0), dataset=data)
    inside = basin_map(config, solved_accuracy=0.7, **grid)
    np.testing.assert_array_equal(inside.final_accuracy, np.full((2, 2), 0.7))
    assert inside.solved.all()  # 7 of 10 right meets --solved-accuracy 0.7 (float32's 0.7 did not)
    outside = basin_map(config, solved_accuracy=0.71, **grid)
    assert not outside.solved.any()


# -- what the figure says about them -----------------------------------------------------------------


def synthetic_map(final_loss, steps, cluster, *, solved=None, n_centres=None):
    K = final_loss.shape[0]
    axis = np.linspace(-1, 1, K)
    n = int(cluster.max()) + 1 if n_centres is None else n_centres
    return BasinMap(alpha=axis, beta=axis, origin=np.zeros(3), directions=np.eye(3)[:2], axis_names=("w1", "w2"),
                    final_loss=final_loss, steps_to_threshold=steps, final_accuracy=np.ones((K, K)),
                    solved=np.ones((K, K), bool) if solved is None else solved, cluster=cluster,
                    cluster_centers=np.zeros((n, 3)), diverged=np.zeros((K, K), bool), threshold=0.1,
                    config={"fixed": {"b": 0.0}, "run_start": [0.0, 0.0], "steps": 10})


def figure_texts(fig):
    fig.canvas.draw()
    return [t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text") and a.get_text())]


def test_final_loss_ticks_that_differ_in_the_sixth_digit_read_differently():
    from backpropviz.render.basins import BasinsDisplay

    loss = 0.1995560 + 2e-7 * np.arange(16).reshape(4, 4)  # the AND + L2 map: one minimum, rounding apart
    d = BasinsDisplay.from_map(synthetic_map(loss, np.full((4, 4), -1), np.zeros((4, 4), int)), kind="loss")
    d.figure_.canvas.draw()
    labels = [t.get_text() for t in d.colorbar_.ax.get_yticklabels() if t.get_text()]
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    assert d.ax_.get_title() == "Final loss"  # linear: the log scale's title would be wrong
    for text, tick in zip(labels, d.colorbar_.get_ticks()):
        assert float(text) == pytest.approx(tick, abs=1e-8)


def test_steps_panel_where_no_start_reached_says_so_instead_of_a_colour_bar():
    from backpropviz.render.basins import BasinsDisplay

    bm = synthetic_map(np.full((4, 4), 0.2), np.full((4, 4), -1), np.zeros((4, 4), int))
    d = BasinsDisplay.from_map(bm, kind="steps")
    assert d.colorbar_ is None and d.note_.get_text() == "no start reached loss < 0.1"
    reached = synthetic_map(np.full((4, 4), 0.2), np.r_[[-1] * 15, 7].reshape(4, 4), np.zeros((4, 4), int))
    d = BasinsDisplay.from_map(reached, kind="steps")  # one start reached it: a colour bar, no note
    assert d.colorbar_ is not None and d.note_ is None


def test_cluster_legend_lists_every_cluster_or_says_how_many_share_grey():
    from backpropviz.render.basins import BasinsDisplay

    for n, listed in ((9, 9), (12, 10)):
        cluster = np.arange(36).reshape(6, 6) % n
        d = BasinsDisplay.from_map(synthetic_map(np.full((6, 6), 0.2), np.full((6, 6), 3), cluster), kind="clusters")
        texts = [t.get_text() for t in d.legend_.get_texts()]
        assert [s for s in texts if s.startswith("cluster ")] == [
            f"cluster {k} ({int((cluster == k).sum())} starts)" for k in range(listed)]
        if n > listed:
            assert texts[-1] == f"{n - listed} smaller clusters ({int((cluster >= listed).sum())} starts)"
        else:
            assert len(texts) == n


def test_basins_cli_reports_one_minimum_in_the_summary_and_the_figure(cli, tmp_path, monkeypatch):
    import backpropviz.render.basins as render_basins

    drawn = []
    real = render_basins.basins_figure

    def keep(*args, **kwargs):
        drawn.append(real(*args, **kwargs)[0])
        return drawn[-1], []

    monkeypatch.setattr(render_basins, "basins_figure", keep)
    expected = {"en": ("clusters of final parameters: 1", "one cluster of final parameters: one minimum",
                       "no start reached loss < 0.1"),
                "ja": ("最終パラメータのクラスタ: 1", "最終パラメータのクラスタは 1 つ: 極小は 1 つ",
                       "損失 < 0.1 に達した開始点はない")}
    for lang, (summary, cluster_text, steps_text) in expected.items():
        r = cli("basins", "--l2", "0.01", "--epochs", "2000", "--resolution", "5", "--lang", lang,
                "--out", tmp_path / lang)
        assert r.code == 0, r
        assert r.out.splitlines()[1].endswith(summary), r.out
        texts = figure_texts(drawn[-1])
        assert cluster_text in texts and steps_text in texts, texts
        assert ("solved (25)" if lang == "en" else "解けた (25)") in texts  # AND: every start solved
        # loss with its colour bar, steps without one, outcome, and no cluster map for one cluster
        assert len(drawn[-1].axes) == 4


def test_basins_cli_counts_stuck_starts_in_the_summary_and_the_legend(cli, tmp_path, monkeypatch):
    import backpropviz.render.basins as render_basins

    drawn = []
    real = render_basins.basins_figure
    monkeypatch.setattr(render_basins, "basins_figure",
                        lambda *a, **k: (drawn.append(real(*a, **k)[0]) or drawn[-1], []))
    # a perceptron cannot learn XOR: every start is stuck (at most 3 of the 4 rows right)
    for lang, stuck, summary in (("en", "stuck (9)", "solved 0/9"), ("ja", "停滞 (9)", "解けた 0/9")):
        r = cli("basins", "--data", "xor", "--epochs", "50", "--resolution", "3", "--lang", lang,
                "--out", tmp_path / lang)
        assert r.code == 0, r
        assert r.out.splitlines()[1].startswith(summary), r.out
        assert stuck in figure_texts(drawn[-1])
