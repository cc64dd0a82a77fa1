"""Models, data and losses that users bring: ``package.module:factory`` specs and checkpoints.

The commands that need no built-in model (``landscape``, ``interpolate``, and ``explain`` /
``gradcheck`` where they take one) accept

* ``--model package.module:factory``: the factory is called with no arguments and returns an
  ``nn.Module`` (an ``nn.Module`` object named by the spec is used as it is);
* ``--checkpoint FILE``: a ``torch.save`` file of the model's ``state_dict()`` (or a dict holding
  it under ``state_dict``, ``model_state_dict`` or ``model``), read with ``weights_only=True``;
* ``--data package.module:factory``: returns a DataLoader yielding ``(inputs, targets)``, an
  ``(X, y)`` pair of tensors or arrays, or a Dataset of ``(input, target)`` items;
* ``--loss``: a name from ``LOSSES`` or ``package.module:fn`` (``fn(output, target) -> mean loss``).

The module part is imported as ``python -m`` would: the current folder comes first on the path.
Every failure is a ``BackpropvizError`` with a one-line message naming the option, what was
wrong and what is accepted, so the CLI prints it and exits with code 2 before writing anything.

>>> user = load_user_model("tests.usermodels:small_mlp", "tests.usermodels:blobs", "ce")  # doctest: +SKIP
>>> user.model, user.loss_fn, user.n_params                                              # doctest: +SKIP
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .errors import BackpropvizError

BUILTIN_MODEL_KINDS = ("perceptron", "mlp")
# Losses by name for models that return logits or values (the user's own): torch's functions,
# mean reduction. The built-in models' losses (``losses.py``) take probabilities instead.
LOSSES = {
    "ce": F.cross_entropy,          # logits (N, K), class indices (N,)
    "nll": F.nll_loss,              # log-probabilities (N, K), class indices
    "bce": F.binary_cross_entropy,  # probabilities, 0/1 targets
    "bce-logits": F.binary_cross_entropy_with_logits,
    "mse": F.mse_loss,
    "l1": F.l1_loss,
}
LOADER_BATCH = 256  # batch size of the DataLoader wrapped around a Dataset
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")
SHOWN = 4  # names listed in an error before "... (N in all)"


def is_factory_spec(text) -> bool:
    """Whether ``text`` names a user's factory (``package.module:name``) rather than a built-in
    model spec such as ``mlp:8,8`` or a data set name."""
    if text is None or ":" not in str(text):
        return False
    module, _, name = str(text).partition(":")
    return bool(module) and bool(name) and module.strip().lower() not in BUILTIN_MODEL_KINDS


def _names(items) -> str:
    items = list(items)
    shown = ", ".join(items[:SHOWN])
    return shown + (f", ... ({len(items)} in all)" if len(items) > SHOWN else "")


def _cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def import_object(spec: str, option: str):
    """The object named by ``package.module:attr`` (``attr`` may be dotted: ``mod:Class.make``)."""
    text = str(spec).strip()
    module_name, _, attr = text.partition(":")
    if not module_name or not attr or ":" in attr:
        raise BackpropvizError(f"{option} takes package.module:name (e.g. mymodels:make_net); got {spec!r}")
    here = os.getcwd()
    if here not in sys.path:  # as `python -m` and uvicorn do: modules beside the user are found
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or anything the module raises while it runs
        raise BackpropvizError(
            f"{option} {spec!r}: cannot import module {module_name!r} ({_cause(exc)}); give package.module:name "
            f"importable from the current folder or the Python path") from None
    obj = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise BackpropvizError(f"{option} {spec!r}: module {module_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    return obj


def call_factory(spec: str, option: str, expected: str):
    """``import_object(spec)``, called with no arguments when it is a function or a class (but not
    when it already is an ``nn.Module``, a DataLoader or a Dataset); ``expected`` says what it
    should return, for the error message."""
    obj = import_object(spec, option)
    if isinstance(obj, (nn.Module, torch.utils.data.DataLoader, torch.utils.data.Dataset)) or not callable(obj):
        return obj
    try:
        return obj()
    except Exception as exc:
        raise BackpropvizError(f"{option} {spec!r} raised {_cause(exc)} (it is called with no arguments and "
                               f"must return {expected})") from None


# -- model and checkpoints ---------------------------------------------------------------------
def load_model(spec: str, option: str = "--model") -> nn.Module:
    """The ``nn.Module`` a factory returns (float parameters, moved to the CPU)."""
    model = call_factory(spec, option, "an nn.Module")
    if not isinstance(model, nn.Module):
        raise BackpropvizError(f"{option} {spec!r} must return an nn.Module; got {type(model).__name__} instead")
    params = list(model.parameters())
    if not params:
        raise BackpropvizError(f"{option} {spec!r} returned a {type(model).__name__} with no parameters")
    if not all(p.is_floating_point() for p in params):
        raise BackpropvizError(f"{option} {spec!r}: every parameter must be a floating-point tensor")
    return model.cpu()


def read_state(path, option: str = "--checkpoint") -> dict[str, torch.Tensor]:
    """The state dict in a ``torch.save`` file, read with ``weights_only=True`` onto the CPU."""
    path = Path(path)
    expected = "expected a torch.save file of model.state_dict()"
    if path.is_dir():
        raise BackpropvizError(f"{option} {str(path)!r} is a folder; {expected}")
    if not path.is_file():
        raise BackpropvizError(f"{option} {str(path)!r} does not exist ({expected})")
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise BackpropvizError(f"cannot read {option} {str(path)!r} ({exc.strerror or exc})") from None
    if not (magic.startswith(b"PK\x03\x04") or magic[:1] == b"\x80"):  # torch.save's zip, or its legacy pickle
        raise BackpropvizError(f"{option} {str(path)!r} is not a torch.save file; {expected}")
    from .history import note_input

    note_input(path)  # an output named like it is refused
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        text = str(exc)
        if "weights_only" in text or "Weights only" in text:
            raise BackpropvizError(
                f"{option} {str(path)!r} holds Python objects that weights_only=True refuses to load (a pickled "
                f"model?); {expected}, e.g. torch.save(model.state_dict(), {path.name!r})") from None
        raise BackpropvizError(f"{option} {str(path)!r} cannot be read ({_cause(exc)}); {expected}") from None
    if isinstance(state, Mapping):
        for key in CHECKPOINT_KEYS:
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping) or not state:
        raise BackpropvizError(f"{option} {str(path)!r} holds a {type(state).__name__}, not a state_dict; {expected}")
    bad = [str(k) for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise BackpropvizError(f"{option} {str(path)!r} has entries that are not tensors ({_names(bad)}); {expected}")
    return dict(state)


def fit_state(model: nn.Module, state: Mapping, *, option: str = "--checkpoint", source: str = "the checkpoint",
              model_name: str = "the model") -> None:
    """Load ``state`` into ``model`` (parameters and buffers, strictly), or say why it does not fit."""
    own = model.state_dict()
    keys = list(state)
    if all(k.startswith("module.") for k in keys) and not any(k.startswith("module.") for k in own):
        state = {k[len("module."):]: v for k, v in state.items()}  # saved from DataParallel
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        parts = ([f"missing keys {_names(missing)}"] if missing else []) + (
            [f"unexpected keys {_names(unexpected)}"] if unexpected else [])
        raise BackpropvizError(f"{option} {source} does not fit {model_name}: {'; '.join(parts)} (is it a "
                               f"checkpoint of another model?)")
    wrong = [f"{k} is {tuple(state[k].shape)} there but {tuple(v.shape)} in the model"
             for k, v in own.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise BackpropvizError(f"{option} {source} does not fit {model_name}: {_names(wrong)}")
    with torch.no_grad():
        model.load_state_dict(state, strict=True)


def load_checkpoint(model: nn.Module, path, *, option: str = "--checkpoint", model_name: str = "the model") -> nn.Module:
    """``model`` with the parameters and buffers of checkpoint ``path`` (in place; returned)."""
    fit_state(model, read_state(path, option), option=option, source=repr(str(path)), model_name=model_name)
    return model


def flat_params(model: nn.Module) -> np.ndarray:
    """The model's parameters as one float64 vector, in ``parameters()`` order (``models.get_flat``),
    on the host wherever the model is."""
    from .models import get_flat

    return get_flat(model).to("cpu", torch.float64).numpy()


# -- models and data off the CPU ---------------------------------------------------------------
# The landscapes and the curvature evaluate on the CPU. A model on a GPU is copied there (the
# user's model stays where it is), and its data brought over with it.
def on_cpu(model: nn.Module) -> bool:
    """Whether every parameter and buffer of ``model`` is on the CPU."""
    return all(t.device.type == "cpu" for t in (*model.parameters(), *model.buffers()))


def cpu_model(model: nn.Module) -> nn.Module:
    """``model`` itself when it is on the CPU, else a copy of it there."""
    import copy

    return model if on_cpu(model) else copy.deepcopy(model).cpu()


def host_array(value):
    """A tensor (wherever it is) as a numpy array; anything else as it is."""
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else value


class HostBatches:
    """A DataLoader's ``(inputs, targets, ...)`` batches brought to the CPU one at a time, for a
    loader that yields tensors on a GPU (the order and ``drop_last`` are the loader's)."""

    def __init__(self, loader):
        self.loader = loader
        self.sampler = getattr(loader, "sampler", None)
        self.drop_last = getattr(loader, "drop_last", False)

    def __iter__(self):
        for batch in self.loader:
            if isinstance(batch, (tuple, list)):  # read as batch[0], batch[1] (a list: namedtuples too)
                batch = [b.cpu() if isinstance(b, torch.Tensor) else b for b in batch]
            yield batch

    def __len__(self) -> int:
        return len(self.loader)

    def __repr__(self) -> str:
        return f"HostBatches({self.loader!r})"


def data_on_cpu(data, y=None):
    """``(data, y)`` with tensors on the CPU: ``X`` and ``y`` moved, a loader's batches moved as
    they come (``HostBatches``); arrays as they are."""
    if isinstance(data, torch.Tensor) or isinstance(y, torch.Tensor):
        return tuple(v.cpu() if isinstance(v, torch.Tensor) else v for v in (data, y))
    if y is None and not isinstance(data, (np.ndarray, list, tuple)) and hasattr(data, "__iter__"):
        return HostBatches(data), None
    return data, y



# -- data and loss -----------------------------------------------------------------------------
def load_data(spec: str, option: str = "--data"):
    """What a data factory returns, as the evaluators take it: an ``(X, y)`` pair of tensors, or a
    DataLoader (a Dataset is wrapped in one, ``LOADER_BATCH`` items a batch, in order)."""
    from torch.utils.data import DataLoader, Dataset

    expected = "a DataLoader, an (X, y) pair of tensors, or a Dataset"
    data = call_factory(spec, option, expected)
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.IterableDataset):
        try:
            n = len(data)
        except TypeError:
            raise BackpropvizError(f"{option} {spec!r} returned a Dataset without a length; {expected}") from None
        if n == 0:
            raise BackpropvizError(f"{option} {spec!r} returned an empty Dataset")
        return DataLoader(data, batch_size=LOADER_BATCH, shuffle=False)
    if isinstance(data, DataLoader):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = (_as_tensor(v, option, spec, name) for v, name in zip(data, ("X", "y")))
        if X.ndim < 2 or y.ndim < 1 or X.shape[0] != y.shape[0] or X.shape[0] == 0:
            raise BackpropvizError(f"{option} {spec!r}: X must be (samples, ...) with one target per sample; got X "
                                   f"{tuple(X.shape)} and y {tuple(y.shape)}")
        return X, y
    raise BackpropvizError(f"{option} {spec!r} must return {expected}; got {type(data).__name__} instead")


def _as_tensor(value, option: str, spec: str, name: str) -> torch.Tensor:
    try:
        tensor = value if isinstance(value, torch.Tensor) else torch.as_tensor(np.asarray(value))
    except Exception:
        raise BackpropvizError(f"{option} {spec!r}: {name} must be a tensor or a numeric array; got "
                               f"{type(value).__name__}") from None
    if not (tensor.is_floating_point() or tensor.dtype in (torch.int64, torch.int32, torch.int16, torch.uint8,
                                                            torch.int8, torch.bool)):
        raise BackpropvizError(f"{option} {spec!r}: {name} must hold numbers; got {tensor.dtype}")
    return tensor


def load_loss(text: str | None, option: str = "--loss"):
    """``fn(output, target) -> mean loss``: a name of ``LOSSES`` (default ``ce``) or ``package.module:fn``."""
    if text is None:
        return LOSSES["ce"]
    key = str(text).strip().lower()
    if key in LOSSES:
        return LOSSES[key]
    if ":" not in key:
        raise BackpropvizError(f"unknown {option} {text!r} for a model of your own; choose one of: "
                               f"{', '.join(LOSSES)}, or give package.module:fn")
    fn = import_object(text, option)
    if not callable(fn):
        raise BackpropvizError(f"{option} {text!r} must be a function fn(output, target) -> mean loss; got "
                               f"{type(fn).__name__}")
    return fn


def first_batch(data):
    """``(X, y)`` of the first batch (the whole data for an ``(X, y)`` pair)."""
    if isinstance(data, tuple):
        return data
    try:
        batch = next(iter(data))
    except StopIteration:
        raise BackpropvizError("--data yielded no batches") from None
    if not (isinstance(batch, (tuple, list)) and len(batch) >= 2):
        raise BackpropvizError(f"--data must yield (inputs, targets) batches; got a {type(batch).__name__}")
    return batch[0], batch[1]


def check_fits(model: nn.Module, loss_fn, data, *, model_spec: str = "--model", data_spec: str = "--data") -> None:
    """Run the model and the loss on two samples of the first batch; a failure says which shapes met."""
    X, y = first_batch(data)
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    if X.ndim < 1 or len(X) == 0 or len(y) != len(X):
        raise BackpropvizError(f"--data {data_spec!r} must give one target per sample; got inputs "
                               f"{tuple(X.shape)} and targets {tuple(y.shape)}")
    first = next(model.parameters())
    x2, y2 = X[:2].to(first.device), y[:2].to(first.device)
    if x2.is_floating_point():
        x2 = x2.to(first.dtype)
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            try:
                out = model(x2)
            except Exception as exc:
                raise BackpropvizError(
                    f"--data {data_spec!r} does not fit --model {model_spec!r}: the model's forward on inputs of "
                    f"shape {tuple(X.shape[1:])} per sample raised {_cause(exc)}") from None
            if not isinstance(out, torch.Tensor):
                raise BackpropvizError(f"--model {model_spec!r} must return a tensor from forward; got "
                                       f"{type(out).__name__}")
            target = y2.reshape(-1, 1).to(out.dtype) if (y2.is_floating_point() and y2.ndim == 1
                                                         and out.shape[1:] == (1,)) else y2
            try:
                loss = loss_fn(out, target)
            except Exception as exc:
                raise BackpropvizError(
                    f"the loss does not fit --model {model_spec!r} and --data {data_spec!r}: on outputs of shape "
                    f"{tuple(out.shape)} and targets {tuple(y2.shape)} ({y2.dtype}) it raised {_cause(exc)}; "
                    f"choose --loss to suit them") from None
            if not (isinstance(loss, torch.Tensor) and loss.numel() == 1):
                raise BackpropvizError(f"the loss must return one number (a mean); got "
                                       f"{tuple(getattr(loss, 'shape', ())) or type(loss).__name__}")
    finally:
        model.train(was)


@dataclass
class UserModel:
    """A user's model (its checkpoint loaded), loss and data, checked to fit together."""

    model: nn.Module
    loss_fn: object
    data: object  # (X, y) tensors or a DataLoader
    model_spec: str = ""
    data_spec: str = ""
    loss_name: str = "ce"
    checkpoint: str | None = None
    buffers: list[str] = field(default_factory=list)  # names of the model's buffers (BatchNorm statistics)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def X(self):
        return self.data[0] if isinstance(self.data, tuple) else self.data

    @property
    def y(self):
        return self.data[1] if isinstance(self.data, tuple) else None

    def __repr__(self) -> str:
        return (f"UserModel({self.model_spec!r}, params={self.n_params}, data={self.data_spec!r}, "
                f"loss={self.loss_name!r}, checkpoint={self.checkpoint!r})")


def load_user_model(model_spec: str, data_spec: str, loss: str | None = None, checkpoint=None) -> UserModel:
    """Import the model and data factories, load the checkpoint, and check that they fit."""
    if not is_factory_spec(data_spec):
        raise BackpropvizError(f"--data with a model of your own takes package.module:factory (returning a "
                               f"DataLoader, (X, y) tensors or a Dataset); got {data_spec!r}")
    model = load_model(model_spec)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, model_name=f"--model {model_spec!r}")
    data = load_data(data_spec)
    loss_fn = load_loss(loss)
    check_fits(model, loss_fn, data, model_spec=model_spec, data_spec=data_spec)
    return UserModel(model=model, loss_fn=loss_fn, data=data, model_spec=str(model_spec), data_spec=str(data_spec),
                     loss_name=str(loss or "ce"), checkpoint=None if checkpoint is None else str(checkpoint),
                     buffers=[n for n, _ in model.named_buffers()])
