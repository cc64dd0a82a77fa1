"""The chain-rule table against autograd on a fresh model, the traced graph and the history."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from backpropviz.analysis.chain_rule import chain_rule_table
from backpropviz.analysis.graph_trace import trace_history_step
from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.train import train


@pytest.fixture(scope="module")
def history():
    return train(RunConfig(epochs=40))


def autograd_reference(params, X, y, loss):
    """Per-sample intermediate gradients from a plain float64 PyTorch computation."""
    w = torch.tensor(params[:2], dtype=torch.float64, requires_grad=True)
    b = torch.tensor(params[2], dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X, dtype=torch.float64)
    z = x @ w + b
    z.retain_grad()
    p = torch.sigmoid(z)
    p.retain_grad()
    t = torch.tensor(y, dtype=torch.float64)
    L = F.binary_cross_entropy(p, t) if loss == "bce" else F.mse_loss(p, t)
    L.backward()
    return dict(z=z.detach().numpy(), p=p.detach().numpy(), dp=p.grad.numpy(), dz=z.grad.numpy(),
                gw=w.grad.numpy(), gb=b.grad.item(), L=L.item())


@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("step", [0, 13, 39])
def test_table_matches_autograd_and_history(loss, step):
    history = train(RunConfig(epochs=40, loss=loss, lr=0.3))
    table = chain_rule_table(history, step)
    ref = autograd_reference(history.params[step].astype(np.float64), history.X, history.y, loss)
    tol = dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(table.z, ref["z"], **tol)
    np.testing.assert_allclose(table.y_hat, ref["p"], **tol)
    np.testing.assert_allclose(table.dL_dyhat, ref["dp"], **tol)
    np.testing.assert_allclose(table.dL_dz, ref["dz"], **tol)
    np.testing.assert_allclose(table.dyhat_dz * table.dL_dyhat, table.dL_dz, **tol)
    np.testing.assert_allclose(table.grad, np.r_[ref["gw"], ref["gb"]], **tol)
    np.testing.assert_allclose(table.loss, ref["L"], **tol)
    # the per-sample shares add up to backpropagation's recorded (float32) gradient
    np.testing.assert_allclose(table.contrib.sum(0), history.grads[step], rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(table.contrib[:, :2], table.x * table.dL_dz[:, None], **tol)
    # plain SGD: -lr * grad is the recorded change of the parameters
    assert table.plain_sgd
    np.testing.assert_allclose(table.update, history.params[step + 1] - history.params[step],
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(table.update, table.recorded_change, rtol=1e-5, atol=1e-7)


def test_table_agrees_with_traced_graph(history):
    step = 21
    table = chain_rule_table(history, step)
    trace = trace_history_step(history, step)
    np.testing.assert_allclose(trace.node("add").value.ravel(), table.z, rtol=1e-5)
    np.testing.assert_allclose(trace.node("sigmoid").grad.ravel(), table.dL_dyhat, rtol=1e-4)
    np.testing.assert_allclose(trace.node("add").grad.ravel(), table.dL_dz, rtol=1e-4, atol=1e-8)
    for k in range(4):
        _, gw = trace.numbers(trace.node("w"), k)
        _, gb = trace.numbers(trace.node("b"), k)
        np.testing.assert_allclose(np.r_[gw.ravel(), gb], table.contrib[k], rtol=1e-4, atol=1e-8)


def test_rows_and_ranges(history):
    table = chain_rule_table(history, 5)
    rows = table.rows()
    assert [r["sample"] for r in rows] == [0, 1, 2, 3]
    assert set(rows[3]) >= {"x1", "x2", "z", "y_hat", "y", "dL_dyhat", "dyhat_dz", "dL_dz",
                            "dL_dw1", "dL_dw2", "dL_db"}
    assert rows[3]["x1"] == 1.0 and rows[3]["y"] == 1.0
    assert table.rows(sample=2)[0]["sample"] == 2
    with pytest.raises(BackpropvizError, match=r"0\.\.3.*got 4"):
        table.rows(sample=4)
    with pytest.raises(BackpropvizError, match=r"0\.\.39.*got 40"):
        chain_rule_table(history, 40)


def test_momentum_is_not_plain_sgd_and_minibatch_rows():
    h = train(RunConfig(epochs=5, momentum=0.9))
    table = chain_rule_table(h, 3)
    assert not table.plain_sgd
    assert not np.allclose(table.update, table.recorded_change)  # momentum adds the velocity
    batches = np.tile([1, 3, -1, -1], (h.n_steps, 1))
    table = chain_rule_table(dataclasses.replace(h, batches=batches), 2)
    assert table.sample_indices.tolist() == [1, 3] and table.n == 2


def test_refuses_models_other_than_the_perceptron(history):
    other = dataclasses.replace(history, param_names=["a", "b", "c"])
    with pytest.raises(BackpropvizError, match="perceptron"):
        chain_rule_table(other, 0)


def test_penalty_schedule_and_minibatches_still_add_up():
    h = train(RunConfig(epochs=30, l2=0.1, l1=0.02, schedule="step", step_size=10, gamma=0.5))
    for step in (3, 25):
        table = chain_rule_table(h, step)
        np.testing.assert_allclose(table.grad, h.grads[step], rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(table.contrib.sum(0) + table.penalty_grad, table.grad, rtol=1e-12)
        assert table.lr == pytest.approx(0.5 * 0.5 ** (step // 10))
        np.testing.assert_allclose(table.update, h.params[step + 1] - h.params[step], rtol=1e-5, atol=1e-7)
    h = train(RunConfig(data="linear", n_samples=30, batch_size=4, epochs=2))
    table = chain_rule_table(h, 5)
    assert table.n == 4 and table.sample_indices.tolist() == h.batches[5][h.batches[5] >= 0].tolist()
    np.testing.assert_allclose(table.grad, h.grads[5], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(table.update, h.params[6] - h.params[5], rtol=1e-5, atol=1e-7)
