"""The one training loop. A recorder fills a ``History`` at every optimisation step.

>>> from backpropviz.config import RunConfig
>>> h = train(RunConfig(epochs=3))
>>> h.params.shape, h.grads.shape, h.loss.shape
((4, 3), (3, 3), (3,))
"""

from __future__ import annotations

import collections
import dataclasses
import math
import mmap

import numpy as np
import torch

from .config import ARTICLE_INIT, RunConfig
from .data import Dataset, make_dataset, train_test_split
from .errors import BackpropvizError, TrainingDiverged
from .history import History
from .interrupts import StepGuard
from .losses import check_loss_for_task, get_loss
from .models import build_model, flat_storage, get_flat, initialise, param_names, set_flat
from .optim import lr_schedule, make_optimizer


def recording_buffers(rows: list[int], cols: int, dtype=np.float32, prefault: bool = True) -> list[np.ndarray]:
    """Uninitialised ``(rows[i], cols)`` arrays whose pages are mapped before the first step.

    The recorder writes every step into fresh memory. Left to the kernel, each 4 KiB page is
    mapped at its first write, one fault at a time, inside the loop; large buffers are anonymous
    maps populated at once when they are made (``MAP_POPULATE``, Linux) instead. Measured with
    ``bench/bench_recording.py --tricks`` (mlp:100,100 on moons, 1,260 steps, 2 x 53 MB of rows,
    CPU-time medians on a shared 2-core VM, Dec 2026): ``np.empty`` buffers make the recorded run
    1.09x (1.09-1.11x in three runs) slower. (The rows are copied by plain torch: ``ctypes.memmove``
    at the rows' addresses measured 0.85-0.95x of that, no gain; a madvise prefault thread was no
    better than this.)

    ``prefault=False`` leaves the mapping to the kernel: the first step comes sooner (the
    playground's run of 40,000 moons steps waited 14 ms for two 18.5 MB buffers to be mapped).
    """
    itemsize = np.dtype(dtype).itemsize
    populate = getattr(mmap, "MAP_POPULATE", 0)
    if not prefault or not populate or not hasattr(mmap, "MAP_ANONYMOUS") or rows[0] * cols * itemsize < (4 << 20):
        return [np.empty((r, cols), dtype=dtype) for r in rows]
    maps = [mmap.mmap(-1, max(r * cols * itemsize, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | populate)
            for r in rows]
    return [np.frombuffer(m, dtype=dtype, count=r * cols).reshape(r, cols) for m, r in zip(maps, rows)]


class Recorder:
    """Preallocated buffers for parameters, gradients, losses and batches; one ``record`` per step."""

    def __init__(self, flat0: torch.Tensor, n_steps: int, batch_width: int | None = None,
                 prefault: bool = True):
        P = flat0.numel()
        dtype = flat0.numpy().dtype
        params, grads = recording_buffers([n_steps + 1, n_steps], P, dtype, prefault)
        self.params, self.grads = torch.from_numpy(params), torch.from_numpy(grads)
        self.loss = np.empty(n_steps, dtype=flat0.numpy().dtype)
        self.epoch = np.empty(n_steps, dtype=np.int64)
        self.lr = np.empty(n_steps, dtype=np.float64)
        # (T, B) sample indices, -1 where a short last batch leaves a slot empty.
        # (written an epoch at a time by start_epoch: np.full of 40,000 steps' rows took 1.4 ms
        # before a playground run's first step)
        self.batches = np.empty((n_steps, batch_width), dtype=np.int64) if batch_width is not None else None
        self.params[0] = flat0
        self.t = 0

    def start_epoch(self, epoch: int, lr: float, n_steps: int, order: np.ndarray | None = None) -> None:
        """Write the epoch number, lr and batch rows of the epoch's ``n_steps`` steps at once.

        ``order`` is the epoch's sample order; step k's batch is its k-th slice of
        ``batch_width`` rows, so the (steps, width) block in row-major order is ``order``
        followed by the -1 padding of a short last batch. Writing these once per epoch
        instead of once per step saves Python work in the loop; rows of steps that a
        stopped run never takes are dropped with the rest (see ``arrays``).
        """
        t = self.t
        if n_steps == 1:  # full batch: one step per epoch (item assignment is cheaper)
            self.epoch[t], self.lr[t] = epoch, lr
        else:
            self.epoch[t : t + n_steps] = epoch
            self.lr[t : t + n_steps] = lr
        if order is not None:
            block = self.batches[t : t + n_steps].reshape(-1)
            block[: len(order)] = order
            block[len(order) :] = -1

    def record(self, loss: float, grads) -> tuple[torch.Tensor]:
        """Store step ``t``'s loss and gradients (one tensor per parameter, flattened in order);
        return the stored gradient row as a one-tensor tuple (the flat gradient)."""
        t = self.t
        self.loss[t] = loss
        torch.cat([g.reshape(-1) for g in grads], out=self.grads[t])
        return (self.grads[t],)

    def record_params(self, flat: torch.Tensor) -> None:
        """Store the parameters after step ``t`` (the model's flat storage); the step is done."""
        self.t += 1
        self.params[self.t].copy_(flat)

    def _take(self, array: np.ndarray, n: int) -> np.ndarray:
        # A finished run hands its buffers over as they are; a stopped one copies the filled part.
        return array if n == len(array) else array[:n].copy()

    def arrays(self):
        t = self.t
        return (self._take(self.params.numpy(), t + 1), self._take(self.grads.numpy(), t),
                self._take(self.loss, t), self._take(self.epoch, t))

    def batch_array(self) -> np.ndarray | None:
        return None if self.batches is None else self._take(self.batches, self.t)

    def lr_array(self) -> np.ndarray:
        return self._take(self.lr, self.t)


# A run records every step; beyond this the history would not fit comfortably in memory.
MAX_HISTORY_BYTES = 2 << 30


def check_history_size(n_steps: int, n_params: int, batch_width: int | None, steps_per_epoch: int = 1) -> None:
    """Refuse, before allocating, a run whose recorded history would exceed ``MAX_HISTORY_BYTES``,
    naming the largest --epochs that fits."""
    per_step = 2 * n_params * 4 + (batch_width or 0) * 8
    size = n_steps * per_step + n_params * 4
    if size > MAX_HISTORY_BYTES:
        most = max(0, (MAX_HISTORY_BYTES - n_params * 4) // (per_step * steps_per_epoch))
        fits = (f"at most --epochs {most} fits" if most >= 1 else "not even one epoch fits") + \
            ("" if batch_width is None else ", more with a larger --batch-size")
        raise BackpropvizError(
            f"this run would record {n_steps} steps x {n_params} parameters ({size / 2**30:.1f} GiB), "
            f"more than the {MAX_HISTORY_BYTES / 2**30:.0f} GiB limit; {fits} (or use a smaller model)")


def check_run_fits(config: RunConfig, n_train: int, n_params: int) -> None:
    """``check_history_size`` for ``config`` on ``n_train`` training rows and ``n_params`` parameters:
    cheap, so that a run too long to record is refused before anything is built for it."""
    full_batch, width, steps_per_epoch = batch_layout(config, n_train)
    check_history_size(config.epochs * steps_per_epoch, n_params, None if full_batch else width, steps_per_epoch)


def batch_layout(config: RunConfig, n_rows: int) -> tuple[bool, int, int]:
    """``(full batch?, rows per step, steps per epoch)`` of ``config`` on ``n_rows`` training rows.

    One rule for the trainer, the multi-start trainer and the progress bar: a batch size of
    None or at least the data's size is the article's full batch; otherwise the last batch of
    an epoch may be short.
    """
    full_batch = config.batch_size is None or config.batch_size >= n_rows
    width = n_rows if full_batch else config.batch_size
    return full_batch, width, -(-n_rows // width)


def n_outputs(n_classes: int) -> int:
    """One sigmoid output for two classes, one logit per class beyond."""
    return 1 if n_classes <= 2 else n_classes


def load_data(config: RunConfig) -> Dataset:
    """The whole data set that ``config`` names (before the train/test split)."""
    if config.csv:
        from .history import note_input

        note_input(config.csv)  # the running command must not write over the user's data
    return make_dataset(config.data, n=config.n_samples, noise=config.noise, seed=config.seed,
                        features=config.features, path=config.csv, target=config.target, task=config.task,
                        points=config.points)


def prepare(config: RunConfig, dataset: Dataset | None = None):
    """Validated (train set, test set or None, initialised model) for ``config``."""
    config.validate()
    dataset = dataset if dataset is not None else load_data(config)
    check_loss_for_task(config.loss, dataset.n_classes, dataset.task)
    train_set, test_set = train_test_split(dataset, config.test_fraction, config.seed)
    model = build_model(config.model, dataset.n_features, seed=config.seed, activation=config.activation,
                        n_outputs=n_outputs(dataset.n_classes), regression=dataset.is_regression)
    if config.init_scheme is not None:
        initialise(model, config.init_scheme, config.seed)
    if config.init is not None:
        n = sum(p.numel() for p in model.parameters())
        if len(config.init) == n:
            set_flat(model, torch.tensor(config.init, dtype=torch.float32))
        elif config.init != ARTICLE_INIT:  # the default start only fits the article's perceptron
            raise BackpropvizError(
                f"--init needs {n} values ({', '.join(param_names(model)[:8])}"
                f"{', ...' if n > 8 else ''}); got {len(config.init)}")
    return train_set, test_set, model


def build(config: RunConfig, dataset: Dataset | None = None):
    """The training data set and the initialised model that ``config`` describes."""
    train_set, _, model = prepare(config, dataset)
    return train_set, model


def accuracy(output: torch.Tensor, y: torch.Tensor) -> float:
    """Share of rows classified right: probability >= 0.5 for one output, else the largest logit."""
    if output.shape[-1] == 1:
        return ((output >= 0.5).to(y.dtype) == y).float().mean().item()
    return (output.argmax(dim=-1) == y.reshape(-1).long()).float().mean().item()


def r_squared(output: torch.Tensor, y: torch.Tensor) -> float:
    """A regression's score: 1 - (squared error) / (squared deviation of y from its mean); 1 is a
    perfect fit, 0 no better than predicting the mean (NaN when y is constant)."""
    target = y.reshape(-1).double()
    residual = ((output.reshape(-1).double() - target) ** 2).sum()
    spread = ((target - target.mean()) ** 2).sum()
    return (1.0 - residual / spread).item() if spread > 0 else float("nan")


def score_fn(regression: bool):
    """What the per-epoch ``*_acc`` metrics hold: accuracy for classes, R^2 for regression."""
    return r_squared if regression else accuracy


@torch.inference_mode()
def evaluate(model, loss_fn, X: torch.Tensor, y: torch.Tensor, score=accuracy) -> tuple[float, float]:
    """(data loss, ``score``: accuracy by default) of ``model`` on the whole of ``(X, y)``."""
    output = model(X)
    if torch.isnan(output).any():  # BCE would raise; the step's own check reports the divergence
        return float("nan"), score(output, y)
    return loss_fn(output, y).item(), score(output, y)


class WholeSetEvaluator:
    """``evaluate`` on one fixed ``(X, y)``, called once per epoch, without fresh big buffers.

    Each whole-set forward pass of an MLP makes (rows x width) activations; for the 2,000-row
    sets here they are large enough that glibc maps them anew and returns them after the
    pass, so every evaluation paid one page fault per 4 KiB of activations, about half its
    time. For the models ``build_model`` makes (``nn.Sequential`` of ``Linear`` layers and
    element-wise activations) this replays the same kernels into buffers kept from one call
    to the next: ``addmm`` is what ``F.linear`` calls for a 2-D input with a bias, and the
    activations run in place, which gives the same values. Any other model falls back to
    ``evaluate``.
    """

    def __init__(self, model, loss_fn, X: torch.Tensor, y: torch.Tensor, score=accuracy):
        self.model, self.loss_fn, self.X, self.y, self.score = model, loss_fn, X, y, score
        self.layers = _replayable_layers(model)
        self.buffers: list[torch.Tensor] | None = None

    @torch.inference_mode()
    def __call__(self) -> tuple[float, float]:
        """(data loss, accuracy) of the model's current parameters on the whole set."""
        if self.layers is None:
            return evaluate(self.model, self.loss_fn, self.X, self.y, self.score)
        if self.buffers is None:
            self.buffers = [torch.empty(len(self.X), layer.out_features, dtype=self.X.dtype)
                            for layer in self.layers if isinstance(layer, torch.nn.Linear)]
        output, linear = self.X, 0
        for layer in self.layers:
            if isinstance(layer, torch.nn.Linear):
                output = torch.addmm(layer.bias, output, layer.weight.t(), out=self.buffers[linear])
                linear += 1
            else:
                _IN_PLACE_ACTIVATIONS[type(layer)](output, layer)
        if torch.isnan(output).any():  # as in ``evaluate``
            return float("nan"), self.score(output, self.y)
        return self.loss_fn(output, self.y).item(), self.score(output, self.y)

    def __repr__(self) -> str:
        kind = "replayed" if self.layers is not None else "model(X)"
        return f"WholeSetEvaluator({len(self.X)} rows, {kind})"


# The element-wise layers ``WholeSetEvaluator`` replays, as the in-place forms of the
# functions their modules call.
_IN_PLACE_ACTIVATIONS = {
    torch.nn.Tanh: lambda x, layer: x.tanh_(),
    torch.nn.Sigmoid: lambda x, layer: x.sigmoid_(),
    torch.nn.ReLU: lambda x, layer: x.relu_(),
    torch.nn.LeakyReLU: lambda x, layer: torch.nn.functional.leaky_relu_(x, layer.negative_slope),
}


def _replayable_layers(model) -> list | None:
    """The layers of ``model`` if ``WholeSetEvaluator`` can replay them exactly, else None."""
    if type(model) is not torch.nn.Sequential:
        return None
    layers = list(model)
    for layer in layers:
        if type(layer) is torch.nn.Linear:
            if layer.bias is None:  # F.linear takes another path without a bias
                return None
        elif type(layer) not in _IN_PLACE_ACTIVATIONS:
            return None
    return layers if layers and type(layers[0]) is torch.nn.Linear else None


def penalty_fn(model, l1: float, l2: float):
    """``l1 * sum|w| + l2 * sum w^2`` over the weight matrices (biases are not penalised), or None."""
    if not (l1 or l2):
        return None
    weights = [p for name, p in model.named_parameters() if name.endswith("weight")]

    def penalty():
        total = 0.0
        for w in weights:
            if l1:
                total = total + l1 * w.abs().sum()
            if l2:
                total = total + l2 * (w * w).sum()
        return total

    return penalty


class LrChanges:
    """The learning rate of each step: ``config``'s schedule, with its base lr changed from given
    steps on (``config.lr_changes``; a live page adds changes while the run trains, ``change``).

    A change at step s sets the base lr from step s on: every later step of epoch e takes the
    schedule's rate at epoch e for that base (constant: the new lr itself; step: the new lr times
    gamma per step_size epochs passed; cosine: the half cosine from the new lr to lr_min), so the
    rates are the same floats as a run started with that lr gives at that epoch.

    >>> plan = LrChanges(RunConfig(lr=0.5, lr_changes=((3, 2.0),)))
    >>> plan.at, plan.rates(2.0)[:2]
    ({3: 2.0}, [2.0, 2.0])
    """

    def __init__(self, config: RunConfig):
        self.config = config
        self.at = {int(step): float(lr) for step, lr in config.lr_changes}  # step -> base lr
        self._rates: dict[float, list[float]] = {}

    def rates(self, base: float) -> list[float]:
        """The rate of each epoch for the base lr ``base``."""
        if base not in self._rates:
            c = self.config
            self._rates[base] = lr_schedule(c.schedule, base, c.epochs, step_size=c.step_size, gamma=c.gamma,
                                            lr_min=c.lr_min, length=c.schedule_length)
        return self._rates[base]

    def change(self, step: int, lr: float) -> None:
        """From ``step`` on (a step not made yet) the base lr is ``lr``."""
        self.at[int(step)] = float(lr)

    def changes(self) -> tuple[tuple[int, float], ...]:
        return tuple(sorted(self.at.items()))

    def __repr__(self) -> str:
        return f"LrChanges({self.changes()})"


class HookedOptimizer:
    """``train``'s flat optimiser with a ``torch.optim.Optimizer``'s step hooks over the model's
    parameters (``register_step_pre_hook``, ``register_step_post_hook``, ``param_groups``), so that
    ``backpropviz.record`` attaches to it as to a user's optimiser.

    ``step(grads)`` runs the flat update unchanged, between the hooks, as ``Optimizer.step`` does;
    before them it hands the flat gradient row to the parameters as their ``.grad`` (views, no
    copy), which is what the recorder reads. ``lr`` sets the flat optimiser's lr and the group's.
    (Not a subclass of ``torch.optim.Optimizer``: its constructor imports ``torch._dynamo``, a
    second or more before the first step, and its step wraps every call in a profiler range.)
    """

    def __init__(self, inner, params):
        self.inner = inner
        numbers = {k: v for k, v in vars(inner).items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "lr"}
        self.params = list(params)
        self.param_groups = [{"params": self.params, "lr": inner.lr, **numbers}]
        self.sizes = [p.numel() for p in self.params]
        self.pre_hooks = collections.OrderedDict()  # as torch keeps them (a handle holds a weak reference)
        self.post_hooks = collections.OrderedDict()

    def register_step_pre_hook(self, hook):
        return self._register(self.pre_hooks, hook)

    def register_step_post_hook(self, hook):
        return self._register(self.post_hooks, hook)

    @staticmethod
    def _register(hooks: dict, hook):
        from torch.utils.hooks import RemovableHandle

        handle = RemovableHandle(hooks)
        hooks[handle.id] = hook
        return handle

    @property
    def lr(self) -> float:
        return self.inner.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.inner.lr = value
        self.param_groups[0]["lr"] = value

    def step(self, grads) -> None:
        """The flat update from ``grads`` (the one flat gradient row), between the step hooks."""
        (flat_grad,) = grads
        for p, g in zip(self.params, flat_grad.split(self.sizes)):
            p.grad = g.view_as(p)
        args = (self, grads)
        for hook in list(self.pre_hooks.values()):
            hook(self, args, {})
        self.inner.step(grads)
        for hook in list(self.post_hooks.values()):
            hook(self, args, {})

    def __repr__(self) -> str:
        return repr(self.inner)


# A recorded run's chunk of every-step rows (parameters and gradients) stays under this in memory:
# the run holds its whole history already.
RECORDING_CHUNK_BYTES = 32 << 20


def _start_recording(folder, model, optimizer, n_steps: int):
    """``backpropviz.record`` of this run into ``folder`` (every step kept): (recorder, optimiser to step)."""
    from .record import record
    from .record.recorder import CHUNK_ROWS

    hooked = HookedOptimizer(optimizer, model.parameters())
    row = 2 * sum(p.numel() * p.element_size() for p in hooked.params)
    recorder = record(model, hooked, folder, steps=max(n_steps, 1), every_step=True,
                      chunk_rows=max(1, min(CHUNK_ROWS, RECORDING_CHUNK_BYTES // row)))
    recorder.__enter__()
    return recorder, hooked


def _end_recording(recorder, history: History) -> None:
    """Keep what the history has beyond the recorded steps (data, config, epochs, batches), then close."""
    skip = {"params", "grads", "loss", "lr"}
    recorder.add_arrays("history", {k: v for k, v in history.to_arrays().items() if k not in skip},
                        steps=history.n_steps, loss_dtype=str(history.loss.dtype))
    recorder.close(history.status)


def train(config: RunConfig, dataset: Dataset | None = None, *, on_step=None, on_record=None,
          lr_changes: LrChanges | None = None, recording=None, prefault: bool = True) -> History:
    """Train the model of ``config`` and return the full history.

    Each step is the article's loop (forward, loss, backward, update) on one batch:
    the whole training set when ``batch_size`` is None (the article's full batch, rows in
    order), else shuffled mini-batches (``batch_size=1``: stochastic), reshuffled every epoch
    with a generator seeded by ``config.seed``. The loss optimised, recorded and
    differentiated is the data loss plus the L1/L2 terms. Once per epoch the data loss and
    accuracy on the whole training set (and the test set, if any) are recorded too.

    ``on_step(t)`` is called after every step with the number of steps done; ``on_record(rec)``
    with the ``Recorder`` itself (``rec.params[:rec.t + 1]``, ``rec.grads[:rec.t]``, ``rec.loss``,
    ``rec.epoch``, ``rec.lr`` filled so far), which is what a live viewer streams (web.server).
    Either may raise to stop the run. ``lr_changes`` (default: ``LrChanges(config)``) gives each
    step's learning rate; ``on_record`` may add a change for the next step (``LrChanges.change``),
    and the history's config then holds every change made.

    ``recording``: a folder to also record the run into with ``backpropviz.record`` (attached to
    this loop's optimiser, every step kept, plus the history's data and config when the run ends:
    ``load_recording(folder).to_history()`` is this history, bit for bit).

    ``prefault=False``: the recorder's buffers are not mapped before the first step (see
    ``recording_buffers``): a run that must start at once (the playground) starts sooner and
    pays a page fault now and then inside the loop instead.

    Raises ``TrainingDiverged`` (carrying the history so far) when the loss becomes NaN or
    infinite.
    """
    train_set, test_set, model = prepare(config, dataset)
    loss_fn = get_loss(config.loss)
    flat = flat_storage(model)  # recording the parameters is then one copy per step
    params = list(model.parameters())
    # The optimiser updates the flat parameter vector from the recorded gradient row: the
    # update rules are element-wise, so this is the per-parameter update of torch.optim bit for
    # bit (tested against the torch.optim classes), with one call per step instead of one per
    # parameter tensor.
    check_run_fits(config, len(train_set.y), flat.numel())  # before the per-epoch list of rates
    optimizer = make_optimizer(config.optimizer, [flat], lr=config.lr, **config.optimizer_options())
    recorder = None
    plan = lr_changes if lr_changes is not None else LrChanges(config)
    rates, changes = plan.rates(config.lr), plan.at
    penalty = penalty_fn(model, config.l1, config.l2)
    X = torch.from_numpy(train_set.X)
    y = torch.from_numpy(train_set.y).reshape(-1, 1)
    X_test = y_test = None
    if test_set is not None:
        X_test = torch.from_numpy(test_set.X)
        y_test = torch.from_numpy(test_set.y).reshape(-1, 1)

    N = len(y)
    full_batch, width, steps_per_epoch = batch_layout(config, N)
    n_steps = config.epochs * steps_per_epoch
    rec = Recorder(flat.detach().clone(), n_steps, batch_width=None if full_batch else width,
                   prefault=prefault)
    if recording is not None:  # the same steps, through the optimiser's hooks
        recorder, optimizer = _start_recording(recording, model, optimizer, n_steps)
    shuffler = np.random.default_rng(config.seed)
    metrics = {"train_loss": [], "train_acc": [], "test_loss": [], "test_acc": []}

    score = score_fn(train_set.is_regression)
    evaluate_train = WholeSetEvaluator(model, loss_fn, X, y, score)
    evaluate_test = WholeSetEvaluator(model, loss_fn, X_test, y_test, score) if X_test is not None else None

    def record_test():
        if evaluate_test is not None:
            loss_value, acc = evaluate_test()
            metrics["test_loss"].append(loss_value)
            metrics["test_acc"].append(acc)

    status = "completed"
    interrupted = None
    guard = StepGuard()  # a Ctrl-C waits while a step is half recorded (see the loop)
    try:
        guard.__enter__()
        for epoch in range(config.epochs):
            epoch_start = rec.t
            optimizer.lr = lr = rates[epoch]
            if full_batch:
                batches = [None]
            else:
                # The whole training set's metrics at this epoch's start (full batch reads them
                # off the step's own forward pass below).
                loss_value, acc = evaluate_train()
                metrics["train_loss"].append(loss_value)
                metrics["train_acc"].append(acc)
                order = shuffler.permutation(N) if config.shuffle else np.arange(N)
                batches = torch.from_numpy(order).split(width)
            rec.start_epoch(epoch, lr, steps_per_epoch, None if full_batch else order)
            record_test()
            for batch in batches:
                if changes and rec.t in changes:  # the base lr changes from this step on
                    rates = plan.rates(changes[rec.t])
                    optimizer.lr = lr = rates[epoch]
                    rec.lr[rec.t:epoch_start + steps_per_epoch] = lr
                output = None
                try:
                    if batch is None:
                        output = model(X)
                        data_loss = loss_fn(output, y)
                    else:
                        output = model(X[batch])
                        data_loss = loss_fn(output, y[batch])
                except RuntimeError as exc:
                    # BCE refuses NaN probabilities (it raises instead of returning NaN).
                    if output is None or not torch.isnan(output).any():
                        raise
                    status = f"diverged at step {rec.t}: the model's output is NaN ({exc})"
                    break
                loss = data_loss if penalty is None else data_loss + penalty()
                loss_value = loss.item()
                if not math.isfinite(loss_value):
                    status = f"diverged at step {rec.t}: loss is {loss_value}"
                    break
                if batch is None:
                    metrics["train_loss"].append(data_loss.item())
                    metrics["train_acc"].append(score(output.detach(), y))
                grads = torch.autograd.grad(loss, params)
                # From the update to the recorded step, a signal waits: stopped in between, the
                # parameters would be a step ahead of the history (and of the recording's rows).
                guard.busy = True
                optimizer.step(rec.record(loss_value, grads))
                rec.record_params(flat)
                if recorder is not None:
                    recorder.step(loss_value)
                guard.done()
                if on_step is not None:
                    on_step(rec.t)
                if on_record is not None:
                    on_record(rec)
            if status == "completed" and not bool(torch.isfinite(flat).all()):
                # A saturating output (sigmoid, clamped BCE) can keep the loss finite while the
                # parameters overflow: stop before the first update of this epoch that did it.
                first = epoch_start
                while first < rec.t and bool(torch.isfinite(rec.params[first + 1]).all()):
                    first += 1
                rec.t = first
                status = f"diverged at step {first}: the update made a parameter infinite or NaN"
                if full_batch:  # that step's whole-set metrics were read off its forward pass
                    metrics["train_loss"].pop()
                    metrics["train_acc"].pop()
            if status != "completed":
                break
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: keep the steps done, as for a divergence
        interrupted = exc
        status = f"interrupted at step {rec.t} ({str(exc) or 'Ctrl-C'})"
        started = int(rec.epoch[rec.t - 1]) + 1 if rec.t else 0  # epochs with a recorded step
        for values in metrics.values():
            del values[started:]
    except BaseException as exc:  # the recording says how its loop ended
        if recorder is not None:
            recorder.__exit__(type(exc), exc, None)
        raise
    finally:
        guard.__exit__()
    if status == "completed":
        loss_value, acc = evaluate_train()
        metrics["train_loss"].append(loss_value)
        metrics["train_acc"].append(acc)
        record_test()

    p, g, l, e = rec.arrays()
    as_array = {k: np.array(v, dtype=np.float64) for k, v in metrics.items()}
    history = History(
        params=p, grads=g, loss=l, epoch=e, param_names=param_names(model),
        X=train_set.X, y=train_set.y, status=status,
        config=history_config(config if plan.changes() == config.lr_changes
                              else dataclasses.replace(config, lr_changes=plan.changes()), train_set),
        batches=rec.batch_array(), lr=rec.lr_array(),
        epoch_train_loss=as_array["train_loss"], epoch_train_acc=as_array["train_acc"],
        epoch_test_loss=as_array["test_loss"] if test_set is not None else None,
        epoch_test_acc=as_array["test_acc"] if test_set is not None else None,
        X_test=test_set.X if test_set is not None else None,
        y_test=test_set.y if test_set is not None else None,
        feature_names=list(train_set.feature_names), class_names=list(train_set.class_names))
    if recorder is not None:
        _end_recording(recorder, history)
    if interrupted is not None:
        interrupted.history = history  # the caller saves it where asked (see cli.core)
        raise interrupted
    if status != "completed":
        advice = "try a smaller --lr"
        if rec.t == 0 and "update" not in status:  # no update was made yet: the lr is not the cause
            advice = ("the loss is not finite at the start, before any update, so the lr is not the cause: "
                      "check --init, --l1/--l2 and the data's values")
        raise TrainingDiverged(
            f"training stopped, {status.split(':', 1)[0]}: {status.split(': ', 1)[1]} "
            f"(lr={config.lr}, loss={config.loss}); {advice}", history)
    return history


def model_at(history: History, step: int = -1) -> torch.nn.Module:
    """A fresh model of the history's kind holding ``params[step]``."""
    config = RunConfig.from_dict(history.config)
    model = build_model(config.model, history.X.shape[1], seed=config.seed, activation=config.activation,
                        n_outputs=n_outputs(history.n_classes), regression=is_regression(history))
    set_flat(model, torch.from_numpy(np.ascontiguousarray(history.params[step])))
    return model


def start_history(config: RunConfig, dataset: Dataset | None = None) -> History:
    """The History of ``config``'s run before its first step: its data and the model's starting
    parameters, no step (what a live page draws before the run trains; ``train`` with the same
    config and data starts from this row 0)."""
    train_set, test_set, model = prepare(config, dataset)
    row0 = get_flat(model).numpy()[None]
    P = row0.shape[1]
    return History(
        params=row0, grads=np.empty((0, P), dtype=row0.dtype), loss=np.empty(0, dtype=row0.dtype),
        epoch=np.empty(0, dtype=np.int64), param_names=param_names(model), X=train_set.X, y=train_set.y,
        config=history_config(config, train_set), lr=np.empty(0, dtype=row0.dtype),
        X_test=test_set.X if test_set is not None else None, y_test=test_set.y if test_set is not None else None,
        feature_names=list(train_set.feature_names), class_names=list(train_set.class_names))


def history_config(config: RunConfig, train_set: Dataset) -> dict:
    """The config a History keeps: ``config``'s, with a task of ``auto`` that the data made a
    regression stored as ``regression`` (so that the file says what it is; ``auto`` otherwise
    stays, and means classification)."""
    d = config.to_dict()
    if train_set.is_regression:
        d["task"] = "regression"
    return d


def is_regression(history) -> bool:
    """Whether ``history`` is a regression run (its config's task; older files are classification)."""
    config = getattr(history, "config", None) or {}
    return str(config.get("task", "auto")) == "regression"


@torch.no_grad()
def predict(history: History, step: int = -1, X: np.ndarray | None = None) -> np.ndarray:
    """The model's output probabilities at ``params[step]`` on ``X`` (default: the training data).

    Binary tasks give the probability of class 1, shape (N,); multi-class tasks the softmax
    probabilities, shape (N, K); regression the predicted values, shape (N,).
    """
    model = model_at(history, step)
    X = history.X if X is None else X
    output = model(torch.from_numpy(np.asarray(X, dtype=np.float32)))
    if output.shape[-1] == 1:
        return output.numpy().reshape(-1)
    return torch.softmax(output, dim=-1).numpy()


def truth_table(history: History, step: int = -1) -> list[str]:
    """The article's printout: ``0 & 1 = 0 (0.04)`` per row, with the gate's operator."""
    op = {"and": "&", "or": "|", "nand": "NAND", "nor": "NOR", "xor": "^", "xnor": "XNOR"}.get(
        str(history.config.get("data", "")).lower(), "?")
    probs = predict(history, step)
    return [f"{x1:.0f} {op} {x2:.0f} = {round(float(p))} ({p:.2f})"
            for (x1, x2), p in zip(history.X, probs)]
