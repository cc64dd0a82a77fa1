"""The article's experiment, checked against an independent plain PyTorch loop and its printed table."""

import numpy as np
import pytest
import torch

from backpropviz.config import RunConfig
from backpropviz.train import train, truth_table

# The table printed in the article (../shared/reference/000_03884d858b94985d.txt).
ARTICLE_TABLE = ["0 & 0 = 0 (0.00)", "0 & 1 = 0 (0.04)", "1 & 0 = 0 (0.04)", "1 & 1 = 1 (0.94)"]


@pytest.fixture(scope="module")
def history():
    return train(RunConfig())


def plain_loop(epochs=1000):
    """The article's loop written from scratch with torch.optim.SGD (the class) and nn.BCELoss."""
    torch.manual_seed(2025)
    X = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    y = torch.tensor([[0.0], [0.0], [0.0], [1.0]])
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0, 1.0]]))
        model[0].bias.copy_(torch.tensor([0.0]))
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    loss_fn = torch.nn.BCELoss()
    params, grads, losses = [np.array([-1.0, 1.0, 0.0], dtype=np.float32)], [], []
    for _ in range(epochs):
        loss = loss_fn(model(X), y)
        opt.zero_grad()
        loss.backward()
        grads.append(np.concatenate([model[0].weight.grad.numpy().ravel(), model[0].bias.grad.numpy()]))
        losses.append(loss.item())
        opt.step()
        params.append(np.concatenate([model[0].weight.detach().numpy().ravel(),
                                      model[0].bias.detach().numpy()]))
    return np.array(params), np.array(grads), np.array(losses, dtype=np.float32), model(X).detach().numpy().ravel()


def test_printed_table_matches_article(history):
    assert truth_table(history) == ARTICLE_TABLE


def test_history_equals_plain_pytorch_loop(history):
    params, grads, losses, _ = plain_loop()
    assert history.params.shape == (1001, 3) and history.param_names == ["w1", "w2", "b"]
    np.testing.assert_array_equal(history.params, params)
    np.testing.assert_array_equal(history.grads, grads)
    np.testing.assert_array_equal(history.loss, losses)
    np.testing.assert_array_equal(history.epoch, np.arange(1000))
    assert history.status == "completed"


def test_recorded_gradients_are_the_analytic_bce_sigmoid_gradient(history):
    X = history.X.astype(np.float64)
    y = history.y.astype(np.float64)
    p = history.params[:-1].astype(np.float64)
    z = p[:, :2] @ X.T + p[:, 2:3]                        # (T, 4)
    r = 1.0 / (1.0 + np.exp(-z)) - y                      # sigmoid(z) - y
    analytic = np.stack([(r * X[:, 0]).mean(1), (r * X[:, 1]).mean(1), r.mean(1)], axis=1)
    np.testing.assert_allclose(history.grads, analytic, rtol=1e-4, atol=1e-6)
    # and the loss is the BCE at params[t]
    bce = -(y * np.log(r + y) + (1 - y) * np.log(1 - (r + y))).mean(1)
    np.testing.assert_allclose(history.loss, bce, rtol=1e-5)


def test_sgd_update_is_minus_lr_times_gradient(history):
    np.testing.assert_allclose(np.diff(history.params, axis=0), -0.5 * history.grads, atol=2e-6)


def test_history_file_round_trip(history, tmp_path):
    from backpropviz.history import History

    path = history.save(tmp_path / "h.npz")
    with np.load(path, allow_pickle=False) as z:
        assert {"params", "grads", "loss", "epoch", "param_names", "X", "y", "config"} <= set(z.files)
        assert list(z["param_names"]) == ["w1", "w2", "b"]
    back = History.load(path)
    np.testing.assert_array_equal(back.params, history.params)
    assert RunConfig.from_dict(back.config) == RunConfig()
    assert train(RunConfig.from_dict(back.config)).params.tobytes() == history.params.tobytes()


def test_csv_export_has_one_row_per_step_plus_final_state(history, tmp_path):
    text = history.to_csv(tmp_path / "h.csv")
    rows = text.strip().splitlines()
    assert rows[0].startswith("step,epoch,loss,w1,w2,b,grad_w1")
    assert len(rows) == 1 + 1000 + 1
    first = rows[1].split(",")
    assert float(first[3]) == -1.0 and float(first[4]) == 1.0 and float(first[5]) == 0.0
    assert np.isclose(float(first[2]), history.loss[0])
    assert np.allclose([float(v) for v in rows[-1].split(",")[3:6]], history.params[-1])


def test_seeded_random_init_is_reproducible_and_seed_zero_counts():
    a = train(RunConfig(init=None, seed=0, epochs=2))
    b = train(RunConfig(init=None, seed=0, epochs=2))
    c = train(RunConfig(init=None, seed=1, epochs=2))
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params[0], c.params[0])
    torch.manual_seed(0)
    ref = torch.nn.Linear(2, 1)
    np.testing.assert_array_equal(a.params[0], np.r_[ref.weight.detach().numpy().ravel(), ref.bias.detach().numpy()])


def test_momentum_matches_torch_optim_sgd():
    h = train(RunConfig(momentum=0.9, epochs=50))
    model = torch.nn.Sequential(torch.nn.Linear(2, 1), torch.nn.Sigmoid())
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[-1.0, 1.0]]))
        model[0].bias.zero_()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    X, y = torch.from_numpy(h.X), torch.from_numpy(h.y).reshape(-1, 1)
    for t in range(50):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy(model(X), y)
        loss.backward()
        opt.step()
        flat = torch.cat([p.detach().ravel() for p in model.parameters()]).numpy()
        np.testing.assert_array_equal(h.params[t + 1], flat)
