"""The learning rate changed at a step (RunConfig.lr_changes, the playground's live lr): the one
training loop applies it at exactly that step, as a plain PyTorch loop that sets the optimiser's
lr there does; with a schedule the change sets the base lr (each later epoch takes the rate a
torch scheduler started at that lr gives); a change made while the run trains (LrChanges.change
from the hook) gives the run the config then records; run --config repeats it bit for bit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from clihelpers import one_line_error
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from backpropviz.config import RunConfig
from backpropviz.train import LrChanges, train

TORCH_OPT = {
    "sgd": lambda p, lr: torch.optim.SGD(p, lr=lr),
    "momentum": lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9),
    "adam": lambda p, lr: torch.optim.Adam(p, lr=lr),
}
TORCH_SCHEDULER = {
    "constant": None,
    "step": lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
    "cosine": lambda opt, epochs=6: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=0.01),
}


def scheduler_rate(schedule, base, epoch):
    """The lr torch's scheduler gives at ``epoch`` for a run started with lr ``base``."""
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=base)
    make = TORCH_SCHEDULER[schedule]
    if make is None:
        return base
    sched = make(opt)
    for _ in range(epoch):
        opt.step()
        sched.step()
    return opt.param_groups[0]["lr"]


def plain_loop(history, optimizer, schedule, lr, changes):
    """The history's batches through nn.Linear/Tanh, a torch.optim class, backward(); before each
    step the group's lr is set to the rate of the base lr in force at that step."""
    model = nn.Sequential(nn.Linear(2, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid())
    vector_to_parameters(torch.from_numpy(history.params[0].copy()), model.parameters())
    opt = TORCH_OPT[optimizer](list(model.parameters()), lr)
    X, y = torch.from_numpy(history.X), torch.from_numpy(history.y).reshape(-1, 1)
    params, grads, rates = [parameters_to_vector(model.parameters()).detach().clone()], [], []
    base = lr
    for t in range(history.n_steps):
        base = dict(changes).get(t, base)
        opt.param_groups[0]["lr"] = rate = scheduler_rate(schedule, base, int(history.epoch[t]))
        rows = torch.from_numpy(history.batches[t][history.batches[t] >= 0])
        opt.zero_grad()
        F.binary_cross_entropy(model(X[rows]), y[rows]).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone())
        opt.step()
        params.append(parameters_to_vector(model.parameters()).detach().clone())
        rates.append(rate)
    return torch.stack(params).numpy(), torch.stack(grads).numpy(), np.array(rates)


SETTINGS = dict(data="moons", n_samples=30, noise=0.2, model="mlp:4", batch_size=7, epochs=6, seed=4,
                step_size=2, gamma=0.5, lr_min=0.01)


@pytest.mark.parametrize("schedule", ["constant", "step", "cosine"])
@pytest.mark.parametrize("optimizer,lr,changes", [
    ("sgd", 0.3, ((7, 2.5),)),                  # mid-epoch (5 steps an epoch), a push to a large lr
    ("momentum", 0.1, ((5, 0.02), (13, 0.4))),  # the first step of an epoch, then mid-epoch
    ("adam", 0.02, ((1, 0.2), (22, 0.05))),
])
def test_an_lr_change_applies_from_that_step_as_a_plain_loop_setting_the_lr(optimizer, lr, changes, schedule):
    history = train(RunConfig(**SETTINGS, optimizer=optimizer, lr=lr, schedule=schedule, lr_changes=changes))
    params, grads, rates = plain_loop(history, optimizer, schedule, lr, changes)
    np.testing.assert_array_equal(history.params, params)
    np.testing.assert_array_equal(history.grads, grads)
    np.testing.assert_array_equal(history.lr, rates)
    first = changes[0][0]
    assert history.lr[first] != history.lr[first - 1]  # the change shows at its step, not before
    assert history.config["lr_changes"] == [list(c) for c in changes]


def test_a_change_made_by_the_hook_while_training_is_the_run_the_config_then_records():
    config = RunConfig(**SETTINGS, optimizer="momentum", lr=0.1)
    plan = LrChanges(config)

    def hook(rec):  # as the playground's worker does between two steps
        if rec.t == 9:
            plan.change(rec.t, 0.7)

    live = train(config, on_record=hook, lr_changes=plan)
    assert live.config["lr_changes"] == [[9, 0.7]]
    again = train(RunConfig(**live.config))
    for name in ("params", "grads", "loss", "lr", "batches"):
        np.testing.assert_array_equal(getattr(live, name), getattr(again, name))
    assert not np.array_equal(live.params, train(config).params)  # the change did change the run


def test_run_config_with_lr_changes_repeats_the_run_bit_for_bit(cli, tmp_path):
    config = RunConfig(**SETTINGS, optimizer="adam", lr=0.02, lr_changes=((3, 0.3), (17, 0.02)))
    path = tmp_path / "c.json"
    path.write_text(config.to_json())
    assert RunConfig.from_json(path.read_text()) == config
    r = cli("run", "--config", path, "--views", "metrics", "--out", tmp_path / "o", "--save-history", tmp_path / "h.npz")
    assert r.code == 0, r
    with np.load(tmp_path / "h.npz", allow_pickle=False) as z:
        expected = train(config)
        np.testing.assert_array_equal(z["params"], expected.params)
        np.testing.assert_array_equal(z["lr"], expected.lr)
        assert json.loads(str(z["config"]))["lr_changes"] == [[3, 0.3], [17, 0.02]]


@pytest.mark.parametrize("value,message", [
    (5, "lr_changes must be a list of [step, lr] pairs"),
    ([[3]], "lr_changes must be a list of [step, lr] pairs"),
    ([[2.5, 0.1]], "lr_changes: a step must be a whole number >= 0; got 2.5"),
    ([[-1, 0.1]], "lr_changes: a step must be a whole number >= 0; got -1"),
    ([[4, 0.1], [4, 0.2]], "lr_changes: the steps must increase; got step 4 after step 4"),
    ([[4, 0]], "lr_changes: the lr at step 4 must be a number > 0"),
    ([[4, "fast"]], "lr_changes: the lr at step 4 must be a number > 0"),
])
def test_bad_lr_changes_in_a_config_file_get_one_line(cli, tmp_path, value, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"epochs": 3, "lr_changes": value}))
    r = cli("run", "--config", path, "--out", tmp_path / "o")
    one_line_error(r, message)
    assert not (tmp_path / "o").exists()


# -- the cosine schedule's own length (RunConfig.schedule_epochs, --schedule-epochs) ---------------

@pytest.mark.parametrize("epochs,length", [(7, 20), (20, 7), (6, 6)])
def test_a_cosine_schedule_of_a_given_length_is_torchs_cosine_annealing_with_that_t_max(epochs, length):
    from backpropviz.optim import lr_schedule

    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.8)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=length, eta_min=0.01)
    expected = []
    for _ in range(epochs):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lr_schedule("cosine", 0.8, epochs, lr_min=0.01, length=length) == expected


def test_a_cosine_run_cut_short_with_schedule_epochs_is_the_first_steps_of_the_longer_run():
    import dataclasses

    long = RunConfig(**{**SETTINGS, "epochs": 12}, optimizer="adam", lr=0.05, schedule="cosine",
                     lr_changes=((7, 0.2),))  # 12 epochs of 5 steps
    short = dataclasses.replace(long, epochs=5, schedule_epochs=long.epochs)
    whole, part = train(long), train(short)
    n = len(part.loss)
    assert n == 5 * 5 < len(whole.loss)
    for name in ("grads", "loss", "lr", "batches"):
        np.testing.assert_array_equal(getattr(part, name), getattr(whole, name)[:n])
    np.testing.assert_array_equal(part.params, whole.params[:n + 1])
    assert not np.array_equal(train(dataclasses.replace(long, epochs=5)).lr, whole.lr[:n])  # without it: another run
    assert RunConfig.from_json(short.to_json()) == short and RunConfig(**part.config) == short


@pytest.mark.parametrize("value", [0, -2, 2.5, "12", True])
def test_a_bad_schedule_epochs_gets_one_line(cli, tmp_path, value):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"epochs": 3, "schedule": "cosine", "schedule_epochs": value}))
    one_line_error(cli("run", "--config", path, "--out", tmp_path / "o"), "--schedule-epochs must be an integer >= 1")
    assert not (tmp_path / "o").exists()
    if isinstance(value, int) and not isinstance(value, bool):
        one_line_error(cli("run", "--epochs", "3", "--schedule", "cosine", "--schedule-epochs", str(value),
                           "--out", tmp_path / "o"), "--schedule-epochs must be an integer >= 1")


def test_schedule_epochs_without_the_cosine_schedule_gets_a_note(cli, tmp_path):
    r = cli("run", "--epochs", "3", "--schedule-epochs", "9", "--views", "loss", "--out", tmp_path / "o")
    assert r.code == 0, r
    assert "--schedule-epochs 9" in r.err and "cosine" in r.err
