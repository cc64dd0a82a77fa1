"""A run, exported: the ``backpropviz run`` command line that reproduces a RunConfig, and a
plain-PyTorch script (torch and numpy only, no backpropviz) that trains the same model the same
way and prints the same final parameters, bit for bit.

>>> from backpropviz.config import RunConfig
>>> command_line(RunConfig(data="or", lr=0.1, epochs=300))
'backpropviz run --data or --lr 0.1 --epochs 300'

The script builds the model with torch's own layers under the same seed (so torch's default
initialisation draws the same numbers), embeds the training rows exactly (every float32 value as
the repr of its float64 value, which reads back to the same float32), takes the loss, penalty,
optimiser (the ``torch.optim`` class whose update rule ``optim`` calls), schedule
(``torch.optim.lr_scheduler``) and mini-batch order (numpy's generator seeded as ``train`` seeds
it) of the run, and prints the parameters after the last step, one line per tensor:
``NAME = [...]`` (``named_parameters()`` names, values as JSON, each float32 as the repr of its
float64 value). ``train`` updates one flat parameter vector; the update rules are element-wise,
so the script's per-tensor updates are the same bits (tests/test_export.py runs both).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import fields

from .config import ARTICLE_INIT, RunConfig
from .errors import BackpropvizError

# RunConfig field -> the `backpropviz run` option that sets it, in the order --help lists them.
OPTIONS = {
    "data": "--data", "model": "--model", "activation": "--activation", "loss": "--loss",
    "optimizer": "--optimizer", "lr": "--lr", "momentum": "--momentum", "epochs": "--epochs", "seed": "--seed",
    "init": "--init", "batch_size": "--batch-size", "shuffle": "--no-shuffle", "n_samples": "--n-samples",
    "noise": "--noise", "test_fraction": "--test-fraction", "features": "--features", "csv": "--csv",
    "target": "--target", "task": "--task", "betas": "--betas", "eps": "--eps", "weight_decay": "--weight-decay",
    "alpha": "--alpha", "schedule": "--schedule", "step_size": "--step-size", "gamma": "--gamma",
    "lr_min": "--lr-min", "schedule_epochs": "--schedule-epochs", "lr_changes": "--lr-changes", "l1": "--l1",
    "l2": "--l2",
}
# Fields that --init covers together with "init".
COVERED = {"init_scheme"}


def _number(v) -> str:
    """A float as the shortest text that reads back to the same float (``repr``)."""
    return repr(float(v)) if not isinstance(v, int) or isinstance(v, bool) else str(v)


def _is_perceptron(config: RunConfig) -> bool:
    return str(config.model).strip().lower().startswith("perceptron")


def settings_without_option(config: RunConfig) -> list[str]:
    """The settings of ``config`` that no ``backpropviz run`` option can give (a field added to
    RunConfig without an option, a --features name with a comma in it), by field name."""
    defaults = type(config)()
    missing = [f.name for f in fields(config)
               if f.name not in OPTIONS and f.name not in COVERED and getattr(config, f.name) != getattr(defaults, f.name)]
    if config.features and any("," in name or not name.strip() for name in config.features):
        missing.append("features")
    return missing


def command_args(config: RunConfig) -> list[str]:
    """The ``backpropviz run`` arguments (without the program) that give ``config``: every
    setting that differs from the option's default, values written so that they read back to the
    same numbers. Raises BackpropvizError when some setting has no option (``settings_without_option``)."""
    missing = settings_without_option(config)
    if missing:
        raise BackpropvizError(f"no backpropviz run option sets {', '.join(missing)}; use --config FILE")
    defaults = RunConfig()
    args: list[str] = []
    for name, option in OPTIONS.items():
        value = getattr(config, name)
        if name == "init":
            if config.init_scheme is not None:
                args += [option, config.init_scheme]
            elif value is None and _is_perceptron(config):
                args += [option, "random"]  # the perceptron's default start is the article's
            elif value is not None and not (_is_perceptron(config) and value == ARTICLE_INIT):
                args += [option, ",".join(_number(v) for v in value)]
            continue
        if name == "shuffle":
            if value is False:
                args.append(option)
            continue
        if name == "data" and str(value).lower() == "csv":
            args += [option, "csv"]
            continue
        if value == getattr(defaults, name) or value is None:
            continue
        if name == "lr_changes":
            text = ",".join(f"{int(step)}:{_number(float(lr))}" for step, lr in value)
        elif name in ("features", "betas"):
            text = ",".join(_number(v) if name == "betas" else str(v) for v in value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            text = _number(value)
        else:
            text = str(value)
        args += [option, text]
    return args


def command_line(config: RunConfig, *, config_file: str = "run.json") -> str:
    """The ``backpropviz run ...`` line that trains ``config`` again (shell-quoted).

    Where a setting has no option, the line is ``backpropviz run --config CONFIG_FILE`` followed by a
    shell comment naming that setting: the settings must then be saved as that file (``run
    --save-config``, or the playground's settings download).

    >>> command_line(RunConfig(data="moons", model="mlp:8,8", init=None, batch_size=32, seed=0))
    'backpropviz run --data moons --model mlp:8,8 --seed 0 --batch-size 32'
    """
    missing = settings_without_option(config)
    if missing:
        return (f"backpropviz run --config {shlex.quote(config_file)}  # no run option sets "
                f"{', '.join(missing)}: {config_file} holds every setting")
    return " ".join(["backpropviz", "run", *(shlex.quote(a) for a in command_args(config))])


# -- the plain-PyTorch script -------------------------------------------------------------------

# RunConfig fields the script reproduces; the data fields are covered by the embedded rows.
SCRIPT_FIELDS = {
    "data", "n_samples", "noise", "test_fraction", "features", "csv", "target", "points", "task", "model", "activation",
    "init", "init_scheme", "loss", "l1", "l2", "optimizer", "lr", "momentum", "betas", "eps", "weight_decay",
    "alpha", "schedule", "step_size", "gamma", "lr_min", "schedule_epochs", "lr_changes", "epochs", "batch_size", "shuffle", "seed",
}

_TORCH_OPTIMIZERS = {"sgd": "SGD", "momentum": "SGD", "nesterov": "SGD", "adagrad": "Adagrad",
                     "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}


def _values(a) -> str:
    """Nested lists of an array's values, each float as the repr of its float64 value."""
    return json.dumps(a.tolist()) if a.dtype.kind in "iub" else repr(a.astype(float).tolist())


def _rows(X) -> str:
    return "[\n" + "".join(f"    {_values(row)},\n" for row in X) + "]"


def _module(layer) -> str:
    import torch.nn as nn

    if type(layer) is nn.Linear:
        return f"nn.Linear({layer.in_features}, {layer.out_features})"
    if type(layer) is nn.LeakyReLU:
        return f"nn.LeakyReLU({layer.negative_slope!r})"
    if type(layer) in (nn.Sigmoid, nn.Tanh, nn.ReLU):
        return f"nn.{type(layer).__name__}()"
    raise BackpropvizError(f"the script writes models of Linear layers and activations; got {type(layer).__name__}")


def _attribute(name: str) -> str:
    """``0.weight`` -> ``model[0].weight``."""
    index, _, rest = name.partition(".")
    return f"model[{index}].{rest}"


def pytorch_script(config: RunConfig, *, steps: int | None = None, dataset=None) -> str:
    """A runnable Python script, torch and numpy only, that trains ``config`` as ``train`` does and
    prints the final parameters (see the module's docstring for the format).

    ``steps`` stops it after that many steps (the playground's run so far; None: every epoch).
    ``dataset`` is the data set ``train`` would load (loaded from ``config`` when None).
    """
    import numpy as np

    from . import __version__
    from .models import parse_init_scheme
    from .optim import optimizer_settings
    from .train import LrChanges, batch_layout, prepare

    defaults = type(config)()
    unknown = [f.name for f in fields(config)
               if f.name not in SCRIPT_FIELDS and getattr(config, f.name) != getattr(defaults, f.name)]
    if unknown:
        raise BackpropvizError(f"the PyTorch script cannot reproduce the setting {', '.join(unknown)} yet")
    train_set, test_set, model = prepare(config, dataset)
    N = len(train_set.y)
    full_batch, width, per_epoch = batch_layout(config, N)
    total = config.epochs * per_epoch
    if steps is not None and not (isinstance(steps, int) and 0 <= steps <= total):
        raise BackpropvizError(f"--steps must be a whole number from 0 to {total} (the run's steps); got {steps!r}")
    optimizer = str(config.optimizer).lower()
    settings = optimizer_settings(optimizer, **config.optimizer_options())
    n_out = [m for m in model if hasattr(m, "out_features")][-1].out_features
    multi = n_out > 1
    loss = str(config.loss).lower()
    names = [name for name, _ in model.named_parameters()]
    weights = [name for name in names if name.endswith("weight")]
    line = command_line(config).replace('"""', '" " "')  # inside the raw docstring below

    out: list[str] = []
    add = out.append
    add(f'r"""Plain PyTorch, no backpropviz: the run of\n\n    {line}\n')
    add(f"{config.data} data, {config.model}, {loss} loss, {optimizer} lr {config.lr!r}, {config.epochs} epochs"
        f"{'' if full_batch else f', mini-batches of {width}'}, seed {config.seed}"
        f"{'' if steps is None else f'; it stops after step {steps}'}.")
    add("Trains the same model the same way as backpropviz's train(), step for step, and prints the")
    add("parameters after the last step, one line per tensor: NAME = [...] (JSON; each float32 value")
    add("as the repr of its float64 value, so the numbers are exact).")
    add(f"\nWritten by backpropviz {__version__}; needs only torch and numpy.\n\"\"\"")
    add("import json\nimport math\nimport sys\n\nimport numpy as np\nimport torch\nfrom torch import nn\n")
    add(f"SEED = {config.seed}")
    add(f"EPOCHS = {config.epochs}")
    add(f"STEPS = {steps!r}  # stop after this many steps (None: every epoch)")
    add(f"LR = {config.lr!r}")
    if not full_batch:
        add(f"BATCH_SIZE = {width}  # {per_epoch} steps an epoch")
    changes = getattr(config, "lr_changes", ())
    if changes:
        # A change at step s sets the base lr from s on: that epoch's rate of the schedule for the new
        # base (train.LrChanges); the scheduler then goes on from it as from any rate.
        plan = LrChanges(config)
        at = {int(s): plan.rates(float(lr))[int(s) // per_epoch] for s, lr in changes if int(s) < total}
        given = ", ".join(f"{s}: {lr!r}" for s, lr in changes)
        add(f"# The learning rate changed while the run trained (step: new lr): {given}.")
        if str(config.schedule).lower() != "constant":
            add("# With a schedule the change sets its base lr: from that step on the rate is the schedule's rate")
            add("# at that epoch for a run started with the new lr.")
        add(f"LR_CHANGES = {at!r}  # step -> the lr from that step on")
    if config.l1:
        add(f"L1 = {config.l1!r}")
    if config.l2:
        add(f"L2 = {config.l2!r}")

    held_out = f" (after holding out {len(test_set.y)} test rows, which do not change training)" if test_set else ""
    add(f"\n# The {N} training rows of {config.data!r}{held_out},\n# float32 values written exactly.")
    add(f"X = torch.tensor({_rows(train_set.X)}, dtype=torch.float32)")
    if train_set.is_regression:
        add(f"y = torch.tensor({_values(train_set.y)}, dtype=torch.float32).reshape(-1, 1)")
    elif multi:
        add(f"y = torch.tensor({_values(train_set.y.astype(np.int64))})  # class indices")
    else:
        add(f"y = torch.tensor({_values(train_set.y.astype(np.int64))}, dtype=torch.float32).reshape(-1, 1)")

    add("\n# The model, built under the seed: torch's default initialisation draws the same numbers.")
    add("torch.manual_seed(SEED)")
    add("model = nn.Sequential(\n" + "".join(f"    {_module(m)},\n" for m in model) + ")")
    if config.init_scheme is not None:
        scheme, scale = parse_init_scheme(config.init_scheme)
        draw = {"xavier": "nn.init.xavier_uniform_(p, generator=generator)",
                "he": 'nn.init.kaiming_normal_(p, nonlinearity="relu", generator=generator)',
                "normal": f"nn.init.normal_(p, 0.0, {scale!r}, generator=generator)"}[scheme]
        add(f"\n# Initialisation {config.init_scheme!r}: weights drawn from a generator seeded by SEED, biases 0.")
        add("generator = torch.Generator().manual_seed(SEED)")
        add("with torch.no_grad():\n    for p in model.parameters():\n        if p.ndim < 2:\n"
            f"            p.zero_()\n        else:\n            {draw}")
    n_params = sum(p.numel() for p in model.parameters())
    if config.init is not None and len(config.init) == n_params:  # (the article's start fits only its perceptron)
        flat = list(config.init)
        add("\n# The given starting point.")
        add("with torch.no_grad():")
        offset = 0
        for name, p in model.named_parameters():
            values = np.array(flat[offset:offset + p.numel()], dtype=np.float64).reshape(tuple(p.shape))
            offset += p.numel()
            add(f"    {_attribute(name)}.copy_(torch.tensor({values.tolist()!r}))")

    add("")
    if train_set.is_regression or loss == "mse" and not multi:
        add("loss_fn = nn.MSELoss()")
    elif multi and loss == "ce":
        add("loss_fn = nn.CrossEntropyLoss()  # softmax cross-entropy on the logits")
    elif multi:  # mse of the softmax probabilities against one-hot targets
        add("def loss_fn(output, target):\n    \"\"\"Squared error of the softmax probabilities against one-hot targets.\"\"\"\n"
            "    one_hot = nn.functional.one_hot(target, output.shape[-1]).to(output.dtype)\n"
            "    return nn.functional.mse_loss(torch.softmax(output, dim=-1), one_hot)")
    else:
        add("loss_fn = nn.BCELoss()  # on the sigmoid's probabilities")
    if config.l1 or config.l2:
        add(f"WEIGHTS = [{', '.join(_attribute(w) for w in weights)}]\n")
        add("def penalty():\n    \"\"\"The L1/L2 terms on the weight matrices (biases are not penalised).\"\"\"\n"
            "    total = 0.0\n    for w in WEIGHTS:")
        if config.l1:
            add("        total = total + L1 * w.abs().sum()")
        if config.l2:
            add("        total = total + L2 * (w * w).sum()")
        add("    return total")

    kwargs = {"sgd": ["momentum", "weight_decay"], "adagrad": ["eps", "weight_decay"],
              "rmsprop": ["alpha", "eps", "weight_decay", "momentum"], "adam": ["betas", "eps", "weight_decay"]}
    family = {"momentum": "sgd", "nesterov": "sgd", "adamw": "adam"}.get(optimizer, optimizer)
    given = ", ".join(f"{k}={tuple(settings[k]) if k == 'betas' else settings[k]!r}" for k in kwargs[family])
    nesterov = ", nesterov=True" if optimizer == "nesterov" else ""
    add(f"\noptimizer = torch.optim.{_TORCH_OPTIMIZERS[optimizer]}(model.parameters(), lr=LR, {given}{nesterov})")
    schedule = str(config.schedule).lower()
    if schedule == "step":
        add(f"scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size={config.step_size}, "
            f"gamma={config.gamma!r})  # stepped once an epoch")
    elif schedule == "cosine":
        add(f"scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max={config.schedule_length}, "
            f"eta_min={config.lr_min!r})  # stepped once an epoch")
    penalty = " + penalty()" if config.l1 or config.l2 else ""

    add("\n\ndef batches(rng):")
    if full_batch:
        add("    \"\"\"Every step takes the whole training set, rows in order (full batch).\"\"\"\n    yield None")
    elif config.shuffle:
        add("    \"\"\"The epoch's mini-batches: the rows in a new random order, cut into BATCH_SIZE rows each.\"\"\"")
        add("    yield from torch.from_numpy(rng.permutation(len(y))).split(BATCH_SIZE)")
    else:
        add("    \"\"\"The epoch's mini-batches: the rows in order, cut into BATCH_SIZE rows each.\"\"\"")
        add("    yield from torch.from_numpy(np.arange(len(y))).split(BATCH_SIZE)")
    add("\n\ndef train():\n    \"\"\"Forward, loss, backward, update: one step per batch. Returns the steps made and the last loss.\"\"\"")
    add("    rng = np.random.default_rng(SEED)  # the mini-batch order, as backpropviz seeds it")
    add("    step, last = 0, float('nan')\n    for epoch in range(EPOCHS):\n        for batch in batches(rng):")
    add("            if STEPS is not None and step >= STEPS:\n                return step, last")
    if changes:
        add("            if step in LR_CHANGES:\n                for group in optimizer.param_groups:\n"
            "                    group[\"lr\"] = LR_CHANGES[step]")
    if full_batch:
        add(f"            loss = loss_fn(model(X), y){penalty}")
    else:
        add(f"            loss = loss_fn(model(X[batch]), y[batch]){penalty}")
    add("            last = loss.item()\n            if not math.isfinite(last):\n"
        "                sys.exit(f\"diverged at step {step}: the loss is {last}; try a smaller LR\")")
    add("            optimizer.zero_grad()\n            loss.backward()\n            optimizer.step()\n            step += 1")
    if schedule != "constant":
        add("        scheduler.step()")
    add("    return step, last\n\n")
    add("steps, last = train()")
    add("print(f\"# after {steps} steps (last step's loss {last!r}): the parameters, each float32 value as the \"\n"
        "      \"repr of its float64 value\")")
    add("for name, p in model.named_parameters():\n    print(f\"{name} = {json.dumps(p.detach().tolist())}\")")
    return "\n".join(out) + "\n"


def parse_script_output(text: str) -> dict[str, list]:
    """``{name: nested list}`` of the parameter lines a script of ``pytorch_script`` printed."""
    params = {}
    for line in text.splitlines():
        if line.startswith("#") or " = " not in line:
            continue
        name, _, values = line.partition(" = ")
        params[name] = json.loads(values)
    return params
