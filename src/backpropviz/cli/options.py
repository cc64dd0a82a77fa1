"""The options that describe a run, declared once for every command that trains or may train.

``run``, ``compare``, ``landscape``, ``basins``, ``explain`` and ``gradcheck`` all take the same
~30 run options (data, model, optimiser, schedule, ...). A command asks for them by declaring a
``run_options: RunOptions`` parameter and the ``@takes_run_options()`` decorator: the decorator
puts the typer options in that parameter's place in the signature (so they appear there in
``--help``) and hands the command one ``RunOptions`` holding the values given.

Nothing here imports torch: ``RunOptions.config()`` builds the RunConfig when the command asks.
"""

from __future__ import annotations

import functools
import inspect
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import fail

DataOpt = Annotated[str, typer.Option(
    "--data", "-d", help="Data set: gates and, or, nand, nor, xor, xnor; 2-D toy sets circle, moons, blobs, "
                         "xor-blobs, spirals, linear; 2-D regression sets reg-plane, reg-gauss; tables iris, "
                         "breast-cancer, wine, digits; csv (with --csv); points drawn in the playground (serve) "
                         "come in a --config file. With --model package.module:factory (landscape): "
                         "package.module:factory returning a DataLoader, (X, y) tensors or a Dataset.")]
TaskOpt = Annotated[str, typer.Option(
    "--task", help="classification, regression (a number to predict: MSE, R^2, the predicted value over the "
                   "plane) or auto: what the data set is; a CSV target of non-whole numbers, or of more than 20 "
                   "distinct ones, is regression.")]
ModelOpt = Annotated[str, typer.Option("--model", "-m", help="perceptron, or mlp:H1,H2,... (e.g. mlp:4 or mlp:8,8). "
                                                          "landscape also takes a model of your own: "
                                                          "package.module:factory returning an nn.Module (see "
                                                          "--checkpoint).")]
ActivationOpt = Annotated[str, typer.Option("--activation", help="Hidden activation: tanh, relu, sigmoid, leaky_relu.")]
LossOpt = Annotated[Optional[str], typer.Option(
    "--loss", help="Loss: bce (two classes), ce (any), mse. Default: bce, or ce when the data have more than "
                   "two classes (a note says so). With --model package.module:factory, ce (on logits, the default), "
                   "nll, bce, bce-logits, mse, l1, or package.module:fn.")]
OptimizerOpt = Annotated[str, typer.Option(
    "--optimizer", help="Optimiser: sgd, momentum, nesterov, adagrad, rmsprop, adam, adamw.")]
LrOpt = Annotated[float, typer.Option("--lr", help="Learning rate (> 0).")]
MomentumOpt = Annotated[Optional[float], typer.Option(
    "--momentum", help="Momentum in [0, 1) (sgd, momentum, nesterov, rmsprop). Default: the optimiser's.")]
EpochsOpt = Annotated[int, typer.Option("--epochs", "-e", help="Number of epochs (>= 1).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (data, initialisation, shuffling).")]
InitOpt = Annotated[Optional[str], typer.Option(
    "--init", help="Initial parameters as comma-separated numbers (the perceptron's w1,w2,b; e.g. -1,1,0); "
                   "'random' (torch's default layer initialisation); or a scheme for the weights, biases 0: "
                   "'xavier' (Glorot uniform), 'he' (Kaiming normal), 'normal:SCALE' (N(0, SCALE^2)). All "
                   "random starts are seeded by --seed. Default: the article's -1,1,0 for a perceptron, "
                   "'random' for other models.")]
BatchOpt = Annotated[Optional[int], typer.Option(
    "--batch-size", "-b", help="Mini-batch size (1: stochastic). Default: the whole training set (full batch).")]
NoShuffleOpt = Annotated[bool, typer.Option(
    "--no-shuffle", help="Take mini-batches in the data's order instead of reshuffling every epoch.")]
SamplesOpt = Annotated[int, typer.Option("--n-samples", "-n", help="Points in a toy data set.")]
NoiseOpt = Annotated[Optional[float], typer.Option("--noise", help="Noise of a toy data set (default: the set's own).")]
TestOpt = Annotated[float, typer.Option("--test-fraction", help="Share of rows held out as a test set, in [0, 1).")]
FeaturesOpt = Annotated[Optional[str], typer.Option(
    "--features", help="Tables/CSV: 'pca' (first two principal components, the default for tables), 'all', "
                       "or comma-separated column names or 0-based indices.")]
CsvOpt = Annotated[Optional[Path], typer.Option(
    "--csv", help="A CSV file to train on (header row, numeric features); name its class column with --target.")]
TargetOpt = Annotated[Optional[str], typer.Option(
    "--target", help="The CSV column that holds the classes (or, for regression, the number to predict).")]
BetasOpt = Annotated[Optional[str], typer.Option("--betas", help="Adam's betas, e.g. 0.9,0.999.")]
Beta1Opt = Annotated[Optional[float], typer.Option("--beta1", help="Adam's first beta (the second stays at its default).")]
Beta2Opt = Annotated[Optional[float], typer.Option("--beta2", help="Adam's second beta.")]
EpsOpt = Annotated[Optional[float], typer.Option("--eps", help="Epsilon of adagrad, rmsprop, adam, adamw.")]
WeightDecayOpt = Annotated[Optional[float], typer.Option("--weight-decay", help="Weight decay (>= 0).")]
AlphaOpt = Annotated[Optional[float], typer.Option("--alpha", help="RMSprop's smoothing constant in [0, 1).")]
NesterovOpt = Annotated[bool, typer.Option("--nesterov", help="SGD with Nesterov momentum (same as --optimizer nesterov).")]
ScheduleOpt = Annotated[str, typer.Option("--schedule", help="Learning-rate schedule: constant, step, cosine.")]
StepSizeOpt = Annotated[int, typer.Option("--step-size", help="step schedule: epochs between decays.")]
GammaOpt = Annotated[float, typer.Option("--gamma", help="step schedule: factor per decay, in (0, 1].")]
LrMinOpt = Annotated[float, typer.Option("--lr-min", help="cosine schedule: the final learning rate.")]
ScheduleEpochsOpt = Annotated[Optional[int], typer.Option(
    "--schedule-epochs", help="cosine schedule: the epochs it spans (T_max; default: --epochs), so that a run "
                              "stopped early keeps the schedule of the longer run.")]
LrChangesOpt = Annotated[Optional[str], typer.Option(
    "--lr-changes", metavar="STEP:LR,...",
    help="Learning rates changed during the run, as STEP:LR pairs in increasing steps (e.g. 120:0.9,300:2.5): "
         "from step STEP (0-based) on the base learning rate is LR (> 0, at least --lr-min), the lr_changes of a "
         "playground run. With a schedule, each later epoch takes the schedule's rate for that base.")]
L1Opt = Annotated[float, typer.Option("--l1", help="L1 penalty on the weights (>= 0).")]
L2Opt = Annotated[float, typer.Option("--l2", help="L2 penalty on the weights (>= 0).")]

# (parameter name, typer option, default), in the order --help lists them. The defaults are the
# article's run (RunConfig's defaults), so a command given no run option trains the article.
RUN_OPTIONS = (
    ("data", DataOpt, "and"),
    ("model", ModelOpt, "perceptron"),
    ("activation", ActivationOpt, "tanh"),
    ("loss", LossOpt, None),  # None: bce, or ce for multi-class data (see RunOptions.config)
    ("optimizer", OptimizerOpt, "sgd"),
    ("lr", LrOpt, 0.5),
    ("momentum", MomentumOpt, None),
    ("epochs", EpochsOpt, 1000),
    ("seed", SeedOpt, 2025),
    ("init", InitOpt, None),
    ("batch_size", BatchOpt, None),
    ("no_shuffle", NoShuffleOpt, False),
    ("n_samples", SamplesOpt, 200),
    ("noise", NoiseOpt, None),
    ("test_fraction", TestOpt, 0.0),
    ("features", FeaturesOpt, None),
    ("csv", CsvOpt, None),
    ("target", TargetOpt, None),
    ("task", TaskOpt, "auto"),
    ("betas", BetasOpt, None),
    ("beta1", Beta1Opt, None),
    ("beta2", Beta2Opt, None),
    ("eps", EpsOpt, None),
    ("weight_decay", WeightDecayOpt, None),
    ("alpha", AlphaOpt, None),
    ("nesterov", NesterovOpt, False),
    ("schedule", ScheduleOpt, "constant"),
    ("step_size", StepSizeOpt, 100),
    ("gamma", GammaOpt, 0.1),
    ("lr_min", LrMinOpt, 0.0),
    ("schedule_epochs", ScheduleEpochsOpt, None),
    ("lr_changes", LrChangesOpt, None),
    ("l1", L1Opt, 0.0),
    ("l2", L2Opt, 0.0),
)
RUN_DEFAULTS = {name: default for name, _, default in RUN_OPTIONS}


def engine_config(*, data, model, activation, loss, optimizer, lr, momentum, epochs, seed, init, batch_size,
                  no_shuffle, n_samples, noise, test_fraction, features, csv, target, task, betas, beta1, beta2, eps,
                  weight_decay, alpha, nesterov, schedule, step_size, gamma, lr_min, l1, l2, schedule_epochs=None,
                  lr_changes=None):
    """The validated RunConfig that the command-line options describe (nothing is trained)."""
    from ..config import ARTICLE_INIT, RunConfig, parse_betas, parse_init, parse_list, parse_lr_changes

    init_values, init_scheme = ARTICLE_INIT, None
    if init is not None and init.strip().lower() == "random":
        init_values = None
    elif init is not None and init.strip()[:1].isalpha():  # a scheme: xavier, he, normal:SCALE
        from ..models import parse_init_scheme

        parse_init_scheme(init)
        init_values, init_scheme = None, init.strip().lower()
    elif init is not None:
        init_values = parse_init(init)
    betas_values = parse_betas(betas)
    if beta1 is not None or beta2 is not None:
        if betas_values is not None:
            fail(f"give either --betas or --beta1/--beta2, not both; got --betas {betas!r}")
        betas_values = parse_betas(f"{0.9 if beta1 is None else beta1},{0.999 if beta2 is None else beta2}")
    if nesterov:
        if optimizer.lower() not in ("sgd", "momentum", "nesterov"):
            fail(f"--nesterov applies to SGD with momentum; got --optimizer {optimizer}")
        optimizer = "nesterov"
    if csv is not None and data.lower() == "and":  # --csv alone names the data: no need for --data csv
        data = "csv"
    config = RunConfig(
        data=data, n_samples=n_samples, noise=noise, test_fraction=test_fraction,
        features=parse_list(features, "features"), csv=str(csv) if csv is not None else None, target=target,
        task=task,
        model=model, activation=activation, init=init_values, init_scheme=init_scheme, loss=loss or "bce", l1=l1, l2=l2,
        optimizer=optimizer, lr=lr, momentum=momentum, betas=betas_values, eps=eps, weight_decay=weight_decay,
        alpha=alpha, schedule=schedule, step_size=step_size, gamma=gamma, lr_min=lr_min,
        schedule_epochs=schedule_epochs, lr_changes=parse_lr_changes(lr_changes, lr_min), epochs=epochs,
        batch_size=batch_size, shuffle=not no_shuffle, seed=seed)
    return config.validate()


def ignored_setting_note(config, *, schedule_varied: bool = False, lang: str = "en") -> str | None:
    """Why some schedule option of ``config`` would change nothing, or None (in ``lang``).

    - The step schedule multiplies the lr by --gamma at epochs step_size, 2 * step_size, ...;
      with --step-size >= --epochs there is no such epoch and the run is the constant schedule's.
    - --step-size and --gamma belong to the step schedule, --lr-min and --schedule-epochs to the
      cosine schedule; given
      with another schedule they are ignored (not said when ``schedule_varied``: ``compare``
      then gives them to the runs of the schedule they belong to).
    """
    from ..i18n import t

    schedule = str(config.schedule).lower()
    notes = _ignored_run_options(config, lang)
    if schedule == "step" and config.step_size >= config.epochs:
        notes.append(t("cli_step_never", lang, size=config.step_size, epochs=config.epochs,
                       suggest=max(1, config.epochs // 3)))
    if not schedule_varied:
        parts, count = [], 0
        for owner, names in (("step", ("step_size", "gamma")), ("cosine", ("lr_min", "schedule_epochs"))):
            unused = [f"--{name.replace('_', '-')} {getattr(config, name)}" for name in names
                      if schedule != owner and getattr(config, name) != RUN_DEFAULTS[name]]
            count += len(unused)
            if unused:
                key = "cli_applies_many" if len(unused) > 1 else "cli_applies_one"
                parts.append(t(key, lang, options=t("cli_and", lang).join(unused), owner=owner))
        if parts:
            notes.append(t("cli_ignores_many" if count > 1 else "cli_ignores_one", lang,
                           parts=t("cli_sep", lang).join(parts), schedule=schedule))
    return t("cli_sep", lang).join(notes) or None


def _ignored_run_options(config, lang: str) -> list[str]:
    """Notes for run options that the data set or the model of ``config`` has no use for:
    --n-samples and --noise outside the toy sets (the gates, tables and CSV files have fixed
    rows), --activation for the perceptron (it has no hidden layer)."""
    from ..data import GENERATED_DATASETS
    from ..i18n import t
    from ..models import parse_spec

    notes = []
    data = str(config.data).lower()
    if data not in GENERATED_DATASETS:
        unused = [f"--{name.replace('_', '-')} {getattr(config, name)}" for name in ("n_samples", "noise")
                  if getattr(config, name) != RUN_DEFAULTS[name]]
        if unused:
            notes.append(t("cli_data_ignores_many" if len(unused) > 1 else "cli_data_ignores_one", lang,
                           options=t("cli_and", lang).join(unused), data=repr(str(config.data)),
                           toys=", ".join(GENERATED_DATASETS)))
    if parse_spec(config.model)[0] == "perceptron" and config.activation != RUN_DEFAULTS["activation"]:
        notes.append(t("cli_activation_unused", lang, activation=config.activation))
    return notes


def fit_to_data(config, *, loss_given: bool, lang: str = "en"):
    """``(config, notes)``: ``config`` adjusted to its data, and what was adjusted or is ignored.

    - Without --loss, data of more than two classes train with cross-entropy (bce needs two), and a
      regression target with MSE (a CSV target taken as regression, and standardised, is noted);
    - a --batch-size above the training rows is the full batch (every step takes all rows).
    The data set is loaded to count its classes and rows (its errors are reported here).
    """
    from dataclasses import replace

    from ..data import train_test_split
    from ..i18n import t
    from ..train import batch_layout, load_data

    dataset = load_data(config)
    notes = []
    if dataset.is_regression:
        if dataset.meta.get("task_detected"):
            notes.append(t("cli_task_detected", lang, column=dataset.meta.get("target", "?"),
                           n=len(set(dataset.y.tolist()))))
        if "target_std" in dataset.meta:
            notes.append(t("cli_target_standardized", lang, column=dataset.meta.get("target", "?"),
                           mean=f"{dataset.meta['target_mean']:.4g}", std=f"{dataset.meta['target_std']:.4g}"))
        if not loss_given and config.loss == "bce":
            config = replace(config, loss="mse")
            notes.append(t("cli_loss_mse", lang))
    elif not loss_given and config.loss == "bce" and dataset.n_classes > 2:
        config = replace(config, loss="ce")
        notes.append(t("cli_loss_ce", lang, k=dataset.n_classes))
    n_train = len(train_test_split(dataset, config.test_fraction, config.seed)[0].y)
    if config.batch_size is not None and config.batch_size > n_train and batch_layout(config, n_train)[0]:
        notes.append(t("cli_batch_full", lang, batch=config.batch_size, n=n_train))
    return config, notes


class RunOptions:
    """The run options one command was given, by parameter name (every run option has a value).

    The RunConfig is built only when asked (``config()``), so a command checks its own options
    first, and a command that loads a saved run can refuse run options that would be ignored.
    """

    def __init__(self, values: dict):
        self.values = {**RUN_DEFAULTS, **values}

    def __repr__(self) -> str:
        return f"RunOptions({', '.join(self.given) or 'defaults'})"

    @property
    def given(self) -> list[str]:
        """The options that differ from their defaults, as the user would type them (``--data or``)."""
        return [f"--{name.replace('_', '-')} {value}" for name, value in self.values.items()
                if value != RUN_DEFAULTS[name]]

    def config(self, *, notes: bool = True, data_notes: bool | None = None, lang: str = "en"):
        """The validated RunConfig these options describe, fitted to its data (``fit_to_data``;
        nothing is trained). With ``notes``, a note on stderr (in ``lang``) for a setting the run
        would ignore (see ``ignored_setting_note``); with ``data_notes`` (default: ``notes``), for
        what ``fit_to_data`` changed or found ignored."""
        config = engine_config(**self.values)
        if config.csv:
            from ..history import note_input

            note_input(config.csv)  # so that an output named like it is refused before any work
        config, fitted = fit_to_data(config, loss_given=self.values["loss"] is not None, lang=lang)
        note = ignored_setting_note(config, lang=lang) if notes else None
        shown = ([note] if note else []) + (fitted if (notes if data_notes is None else data_notes) else [])
        for line in shown:
            print(f"note: {line}", file=sys.stderr)
        return config

    def refuse_with_history(self, history_file: Path, what: str = "HISTORY.npz") -> None:
        """Fail when run options come with a saved history (or ``what`` else that holds a run's
        settings, such as ``--config``): the file holds its own run."""
        given = self.given
        if given:
            fail(f"run options apply only when no {what} is given (the file holds its own run); "
                 f"got {', '.join(given)} with {str(history_file)!r}")


def takes_run_options(*, exclude: tuple[str, ...] = ()):
    """Decorate a command that has a ``run_options: RunOptions`` parameter: the run options become
    typer options in that parameter's place, and the command gets them as one ``RunOptions``.

    ``exclude`` leaves out run options whose flag the command uses for something else (they keep
    their defaults). Apply it below ``@app.command()``.
    """
    def decorate(command):
        signature = inspect.signature(command, eval_str=True)
        own = list(signature.parameters.values())
        names = [p.name for p in own]
        if "run_options" not in names:
            raise TypeError(f"{command.__name__} needs a run_options parameter for @takes_run_options")
        shared = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=option,
                                    default=default)
                  for name, option, default in RUN_OPTIONS if name not in exclude]
        clash = {p.name for p in shared} & set(names)
        if clash:
            raise TypeError(f"{command.__name__}: its own {sorted(clash)} clash with run options; exclude them")
        at = names.index("run_options")
        parameters = own[:at] + shared + own[at + 1:]

        @functools.wraps(command)
        def with_run_options(**kwargs):
            values = {p.name: kwargs.pop(p.name) for p in shared}
            return command(**kwargs, run_options=RunOptions(values))

        with_run_options.__signature__ = signature.replace(parameters=parameters)
        with_run_options.__annotations__ = {p.name: p.annotation for p in parameters}
        return with_run_options

    return decorate
