"""Every optimiser, loss, schedule and batch mode against an independent plain PyTorch loop.

The reference loop builds the network from ``torch.nn`` by hand, loads ``params[0]`` with
``torch.nn.utils.vector_to_parameters``, uses the torch.optim *classes* and torch's lr
schedulers, calls ``loss.backward()``, and is fed the batches the history recorded. The
history must equal it bit for bit: our optimisers call the very functions the classes call.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parameters_to_vector, vector_to_parameters

from backpropviz.config import RunConfig
from backpropviz.errors import BackpropvizError
from backpropviz.optim import OPTIMIZERS, lr_schedule, make_optimizer
from backpropviz.train import train

# name -> (RunConfig options, the torch.optim class built the usual way)
CASES = {
    "sgd": ({"lr": 0.3}, lambda p: torch.optim.SGD(p, lr=0.3)),
    "sgd-wd": ({"lr": 0.3, "weight_decay": 0.01}, lambda p: torch.optim.SGD(p, lr=0.3, weight_decay=0.01)),
    "momentum": ({"lr": 0.1}, lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9)),
    "nesterov": ({"lr": 0.1, "momentum": 0.8},
                 lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.8, nesterov=True)),
    "adagrad": ({"lr": 0.1}, lambda p: torch.optim.Adagrad(p, lr=0.1)),
    "rmsprop": ({"lr": 0.01, "alpha": 0.9}, lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9)),
    "rmsprop-momentum": ({"lr": 0.01, "momentum": 0.5},
                         lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5)),
    "adam": ({"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-7},
             lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-7)),
    "adamw": ({"lr": 0.02}, lambda p: torch.optim.AdamW(p, lr=0.02)),
}
BATCHES = {"full": None, "mini": 7, "stochastic": 1}


def hand_built(n_in: int, hidden: int, n_out: int, activation=nn.Tanh) -> nn.Sequential:
    layers = [nn.Linear(n_in, hidden), activation(), nn.Linear(hidden, n_out)]
    return nn.Sequential(*layers, nn.Sigmoid()) if n_out == 1 else nn.Sequential(*layers)


def reference_run(history, model, make_opt, loss_of, *, scheduler=None, l2=0.0):
    """Plain loop: the history's batches, torch.optim class, backward(); returns (params, grads, loss)."""
    vector_to_parameters(torch.from_numpy(history.params[0].copy()), model.parameters())
    opt = make_opt(list(model.parameters()))
    sched = scheduler(opt) if scheduler else None
    X = torch.from_numpy(history.X)
    y = torch.from_numpy(history.y)
    params, grads, losses = [parameters_to_vector(model.parameters()).detach().clone()], [], []
    for t in range(history.n_steps):
        if sched is not None and t > 0 and history.epoch[t] != history.epoch[t - 1]:
            sched.step()
        rows = slice(None) if history.batches is None else torch.from_numpy(
            history.batches[t][history.batches[t] >= 0])
        opt.zero_grad()
        loss = loss_of(model(X[rows]), y[rows])
        if l2:
            loss = loss + sum(l2 * m.weight.pow(2).sum() for m in model if isinstance(m, nn.Linear))
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]).clone())
        opt.step()
        params.append(parameters_to_vector(model.parameters()).detach().clone())
    return torch.stack(params).numpy(), torch.stack(grads).numpy(), np.array(losses, dtype=np.float32)


def assert_same_run(history, ref):
    params, grads, losses = ref
    np.testing.assert_array_equal(history.params, params)
    np.testing.assert_array_equal(history.grads, grads)
    np.testing.assert_array_equal(history.loss, losses)


def bce(out, y):
    return F.binary_cross_entropy(out, y.reshape(-1, 1))


@pytest.mark.parametrize("batch", list(BATCHES))
@pytest.mark.parametrize("case", list(CASES))
def test_optimizer_matches_torch_optim_class(case, batch):
    options, make_opt = CASES[case]
    name = case.split("-")[0]
    config = RunConfig(data="moons", n_samples=30, noise=0.2, model="mlp:3", optimizer=name,
                       epochs=3, batch_size=BATCHES[batch], seed=4, **options)
    history = train(config)
    assert history.n_steps == 3 * (1 if batch == "full" else -(-30 // BATCHES[batch]))
    assert_same_run(history, reference_run(history, hand_built(2, 3, 1), make_opt, bce))


@pytest.mark.parametrize("case", list(CASES))
def test_flat_update_matches_the_class_on_tensors_of_vector_unfriendly_sizes(case):
    # ``train`` runs the update once on the flat parameter vector. The element-wise kernels
    # split a tensor into SIMD blocks and a scalar tail; with layers of 74, 37, 37 and 1 values
    # the flat vector's blocks straddle the per-parameter tensors' boundaries, so a kernel whose
    # block and tail paths rounded differently would show here (the mlp:3 cases above fit in
    # one tail).
    options, make_opt = CASES[case]
    config = RunConfig(data="moons", n_samples=60, noise=0.2, model="mlp:37", optimizer=case.split("-")[0],
                       epochs=3, batch_size=16, seed=5, **options)
    history = train(config)
    assert history.params.shape[1] == 74 + 37 + 37 + 1
    assert_same_run(history, reference_run(history, hand_built(2, 37, 1), make_opt, bce))


@pytest.mark.parametrize("loss", ["bce", "mse"])
@pytest.mark.parametrize("batch", list(BATCHES))
def test_binary_losses_match_plain_loop(loss, batch):
    history = train(RunConfig(data="xor-blobs", n_samples=24, model="mlp:5", activation="relu",
                              loss=loss, optimizer="sgd", lr=0.2, epochs=4,
                              batch_size=BATCHES[batch], seed=1))
    loss_of = bce if loss == "bce" else (lambda out, y: F.mse_loss(out, y.reshape(-1, 1)))
    ref = reference_run(history, hand_built(2, 5, 1, nn.ReLU), lambda p: torch.optim.SGD(p, lr=0.2),
                        loss_of)
    assert_same_run(history, ref)


@pytest.mark.parametrize("loss", ["ce", "mse"])
@pytest.mark.parametrize("batch", list(BATCHES))
def test_multiclass_losses_match_plain_loop(loss, batch):
    history = train(RunConfig(data="iris", model="mlp:4", loss=loss, optimizer="adam", lr=0.05,
                              epochs=2, batch_size=None if batch == "full" else BATCHES[batch] * 5,
                              seed=3))
    if loss == "ce":
        def loss_of(out, y):
            return F.cross_entropy(out, y.long())
    else:
        def loss_of(out, y):
            return F.mse_loss(torch.softmax(out, dim=1), F.one_hot(y.long(), 3).float())
    ref = reference_run(history, hand_built(2, 4, 3), lambda p: torch.optim.Adam(p, lr=0.05), loss_of)
    assert_same_run(history, ref)


@pytest.mark.parametrize("schedule", ["step", "cosine"])
def test_schedules_match_torch_schedulers(schedule):
    history = train(RunConfig(data="moons", n_samples=20, model="mlp:3", optimizer="momentum", lr=0.2,
                              epochs=6, batch_size=8, schedule=schedule, step_size=2, gamma=0.5,
                              lr_min=0.01, seed=2))
    if schedule == "step":
        def scheduler(opt):
            return torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    else:
        def scheduler(opt):
            return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6, eta_min=0.01)
    ref = reference_run(history, hand_built(2, 3, 1), lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
                        bce, scheduler=scheduler)
    assert_same_run(history, ref)
    assert len(set(history.lr.tolist())) > 1


@pytest.mark.parametrize("schedule,cls,kwargs", [
    ("step", torch.optim.lr_scheduler.StepLR, {"step_size": 7, "gamma": 0.3}),
    ("cosine", torch.optim.lr_scheduler.CosineAnnealingLR, {"T_max": 40, "eta_min": 0.002}),
])
def test_lr_schedule_values_equal_torch(schedule, cls, kwargs):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    sched = cls(opt, **kwargs)
    expected = []
    for _ in range(40):
        expected.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    got = lr_schedule(schedule, 0.1, 40, step_size=7, gamma=0.3, lr_min=0.002)
    assert got == expected


def test_l2_penalty_is_part_of_the_optimised_loss():
    history = train(RunConfig(data="moons", n_samples=20, model="mlp:3", optimizer="sgd", lr=0.3,
                              epochs=3, batch_size=5, l2=0.05, seed=0))
    ref = reference_run(history, hand_built(2, 3, 1), lambda p: torch.optim.SGD(p, lr=0.3), bce, l2=0.05)
    assert_same_run(history, ref)


def test_every_registered_optimizer_is_covered():
    assert {case.split("-")[0] for case in CASES} == set(OPTIMIZERS)


def test_hyperparameter_that_does_not_apply_is_refused():
    with pytest.raises(BackpropvizError, match="--momentum does not apply to adam"):
        make_optimizer("adam", [torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
    # "no momentum" is accepted for any optimiser (a CLI passes its default 0 along)
    assert make_optimizer("adam", [torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.0).betas == (0.9, 0.999)
    with pytest.raises(BackpropvizError, match="choose one of: sgd, momentum, nesterov"):
        make_optimizer("lion", [torch.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(BackpropvizError, match="betas"):
        RunConfig(optimizer="adam", betas=(0.9, 1.5)).validate()
