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
