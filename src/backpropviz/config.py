"""One declarative, serialisable description of a run. The same config gives the same run, bit for bit.

>>> cfg = RunConfig(data="or", lr=0.1)
>>> RunConfig.from_json(cfg.to_json()) == cfg
True
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from .errors import BackpropvizError

# Parameters are float32: a larger learning rate cannot even be multiplied into an update.
FLOAT32_MAX = 3.4028234663852886e38

# The article's settings: AND gate, perceptron, BCE, SGD lr 0.5, 1000 full-batch epochs,
# seed 2025, initial w1=-1, w2=1, b=0.
ARTICLE_INIT = (-1.0, 1.0, 0.0)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to reproduce a run. Defaults are the article's experiment.

    Hyperparameters left as ``None`` take the usual default of the chosen optimiser
    (torch.optim's), or of the chosen data set for ``noise``.
    """

    # data
    data: str = "and"
    n_samples: int = 200
    noise: float | None = None
    test_fraction: float = 0.0
    features: tuple[str, ...] | None = None  # tables/CSV: column names or indices, ("pca",), ("all",)
    csv: str | None = None  # data="csv": the file, and the column that holds the classes
    target: str | None = None
    # data="points": the user's own points ((x1, x2, class), ...), drawn in the playground
    points: tuple[tuple[float, float, int], ...] | None = None
    # classification or regression; "auto": what the data set is (a CSV file's target decides). A
    # trained run's History stores the task it had.
    task: str = "auto"
    # model
    model: str = "perceptron"
    activation: str = "tanh"
    init: tuple[float, ...] | None = ARTICLE_INIT
    # None: torch's default initialisation of each layer (seeded by ``seed``; ``--init random``);
    # else a scheme of ``models.INIT_SCHEMES`` (``xavier``, ``he``, ``normal:SCALE``) for the weights.
    init_scheme: str | None = None
    # objective
    loss: str = "bce"
    l1: float = 0.0
    l2: float = 0.0
    # optimiser
    optimizer: str = "sgd"
    lr: float = 0.5
    momentum: float | None = None
    betas: tuple[float, float] | None = None
    eps: float | None = None
    weight_decay: float | None = None
    alpha: float | None = None
    schedule: str = "constant"
    step_size: int = 100
    gamma: float = 0.1
    lr_min: float = 0.0
    # The cosine schedule's length in epochs (CosineAnnealingLR's T_max); None: ``epochs``. The
    # playground's config() of a run paused part way shortens ``epochs`` and keeps the length here.
    schedule_epochs: int | None = None
    # ((step, lr), ...): from step ``step`` on the base learning rate is ``lr`` (the playground's lr
    # changed while a run trains; steps in increasing order, a change past the run's end never
    # applies). With a schedule, each later epoch takes the schedule's rate for that base.
    lr_changes: tuple[tuple[int, float], ...] = ()
    # loop
    epochs: int = 1000
    batch_size: int | None = None  # None: full batch (the article's); 1: stochastic
    shuffle: bool = True  # mini-batches drawn in a new order each epoch, seeded by ``seed``
    seed: int = 2025

    def __post_init__(self):
        for name in ("init", "betas", "features"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                value = tuple(value) if not isinstance(value, str) else (value,)
            if value is not None and name != "features":
                value = tuple(float(v) for v in value)
            if value is not None and name == "features":
                value = tuple(str(v) for v in value)
            object.__setattr__(self, name, value)
        if isinstance(self.points, list):  # from JSON: lists of lists (their values are checked by validate)
            object.__setattr__(self, "points", tuple(tuple(p) if isinstance(p, list) else p for p in self.points))
        if isinstance(self.lr_changes, (list, tuple)):  # JSON's [[step, lr], ...]; validate checks them
            object.__setattr__(self, "lr_changes", tuple(tuple(p) if isinstance(p, (list, tuple)) else p
                                                         for p in self.lr_changes))
        # The article's starting point (w1, w2, b) fits only a 3-parameter perceptron; a network
        # starts from the seeded initialisation unless told otherwise.
        if self.init == ARTICLE_INIT and (self.init_scheme is not None
                                          or not str(self.model).lower().startswith("perceptron")):
            object.__setattr__(self, "init", None)

    @property
    def schedule_length(self) -> int:
        """The epochs the lr schedule spans (``schedule_epochs``, or ``epochs``)."""
        return self.epochs if self.schedule_epochs is None else self.schedule_epochs

    @property
    def is_full_batch(self) -> bool:
        return self.batch_size is None

    def validate(self) -> "RunConfig":
        """Check ranges and names; raise BackpropvizError naming the bad field."""
        from .data import DATASETS, MAX_SAMPLES, check_features_apply
        from .errors import choice_error
        from .losses import get_loss
        from .models import get_activation, parse_spec
        from .optim import SCHEDULES, optimizer_settings

        def number(value, allow_int_only=False):
            if isinstance(value, bool):
                return False
            if allow_int_only:
                return isinstance(value, int)
            return isinstance(value, (int, float)) and math.isfinite(value)

        if str(self.data).lower() not in DATASETS:
            raise choice_error("data set", self.data, DATASETS)
        if str(self.data).lower() == "csv" and not (self.csv and self.target):
            raise BackpropvizError("data 'csv' needs a file and a target column: --csv FILE --target COLUMN")
        if self.csv and str(self.data).lower() != "csv":
            raise BackpropvizError(f"--csv reads a file, so the data set must be 'csv'; got data {self.data!r}")
        check_features_apply(self.data, self.features)
        if str(self.data).lower() == "points" or self.points is not None:
            from .data.points import check_points

            if str(self.data).lower() != "points":
                raise BackpropvizError(f"points make a data set of their own: data must be 'points'; got data {self.data!r}")
            if self.points is None:
                raise BackpropvizError("data 'points' needs the points [[x1, x2, class], ...]: draw them in the "
                                       "playground (backpropviz serve) or give them in a --config file")
            check_points(self.points)
        from .data import TASKS

        if str(self.task).lower() not in TASKS:
            raise choice_error("task", self.task, TASKS)
        if not (number(self.n_samples, True) and 2 <= self.n_samples <= MAX_SAMPLES):
            raise BackpropvizError(f"--n-samples must be an integer in [2, {MAX_SAMPLES}]; got {self.n_samples}")
        if self.noise is not None and not (number(self.noise) and self.noise >= 0):
            raise BackpropvizError(f"--noise must be a number >= 0; got {self.noise}")
        if not (number(self.test_fraction) and 0 <= self.test_fraction < 1):
            raise BackpropvizError(f"--test-fraction must be in [0, 1); got {self.test_fraction}")
        parse_spec(self.model)
        get_activation(self.activation)
        get_loss(self.loss)
        for name in ("l1", "l2"):
            value = getattr(self, name)
            if not (number(value) and value >= 0):
                raise BackpropvizError(f"--{name} must be a number >= 0; got {value}")
        if not (number(self.lr) and 0 < self.lr <= FLOAT32_MAX):
            raise BackpropvizError(
                f"--lr must be a number > 0 (at most {FLOAT32_MAX:.3g}, float32's largest); got {self.lr}")
        optimizer_settings(self.optimizer, **self.optimizer_options())
        if str(self.schedule).lower() not in SCHEDULES:
            raise choice_error("lr schedule", self.schedule, SCHEDULES)
        if not (number(self.step_size, True) and self.step_size >= 1):
            raise BackpropvizError(f"--step-size must be an integer >= 1; got {self.step_size}")
        if not (number(self.gamma) and 0 < self.gamma <= 1):
            raise BackpropvizError(f"--gamma must be in (0, 1]; got {self.gamma}")
        if not (number(self.lr_min) and 0 <= self.lr_min <= self.lr):
            raise BackpropvizError(f"--lr-min must be in [0, lr={self.lr}]; got {self.lr_min}")
        check_lr_changes(self.lr_changes, self.lr_min)
        if self.schedule_epochs is not None and not (number(self.schedule_epochs, True) and self.schedule_epochs >= 1):
            raise BackpropvizError(f"--schedule-epochs must be an integer >= 1 (or omitted: --epochs); "
                                   f"got {self.schedule_epochs!r}")
        if not (number(self.epochs, True) and self.epochs >= 1):
            raise BackpropvizError(f"--epochs must be an integer >= 1; got {self.epochs}")
        if self.batch_size is not None and not (number(self.batch_size, True) and self.batch_size >= 1):
            raise BackpropvizError(f"--batch-size must be an integer >= 1 (or omitted for full batch); got {self.batch_size}")
        if not isinstance(self.shuffle, bool):
            raise BackpropvizError(f"shuffle must be true or false; got {self.shuffle!r}")
        check_seed(self.seed, "--seed")
        if self.init is not None:
            check_init_values(self.init)
        if self.init_scheme is not None:
            from .models import parse_init_scheme

            if self.init is not None:
                raise BackpropvizError(
                    f"give either initial values or an init scheme, not both; got {self.init} and {self.init_scheme!r}")
            parse_init_scheme(self.init_scheme)
        return self

    def optimizer_options(self) -> dict:
        """The optimiser hyperparameters set on this config (None: the optimiser's default)."""
        return {"momentum": self.momentum, "betas": self.betas, "eps": self.eps,
                "weight_decay": self.weight_decay, "alpha": self.alpha}

    def to_dict(self) -> dict:
        d = asdict(self)
        for name in ("init", "betas", "features"):
            d[name] = list(d[name]) if d[name] is not None else None
        if d["points"] is not None:
            d["points"] = [list(p) for p in d["points"]]
        d["lr_changes"] = [list(p) for p in d["lr_changes"]]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> "RunConfig":
        return cls.from_dict(json.loads(text))


def load_config(path) -> RunConfig:
    """The validated RunConfig saved in ``path``: a JSON object (``--save-config``,
    ``RunConfig.to_json``) or the ``config`` of a history file (``--save-history``).

    Fields left out take their defaults; a field RunConfig does not have, or a value of the wrong
    kind, is refused with the file's name.
    """
    from pathlib import Path

    path = Path(path)
    if path.suffix.lower() == ".npz":
        from .history import History

        data = History.load(path).config
    else:
        if path.is_dir():
            raise BackpropvizError(f"--config {str(path)!r} is a folder; give a .json or a history .npz file")
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise BackpropvizError(f"--config file {str(path)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise BackpropvizError(f"--config {str(path)!r} cannot be read ({exc})") from None
        except json.JSONDecodeError as exc:
            raise BackpropvizError(f"--config {str(path)!r} is not valid JSON ({exc.msg} at line {exc.lineno})") \
                from None
    return config_from_dict(data, f"--config {str(path)!r}")


def config_from_dict(data, where: str = "config") -> RunConfig:
    """The validated RunConfig of ``data`` (a JSON object's settings), with the checks of
    ``--config``: fields left out take their defaults; an unknown field, a value of the wrong kind
    or out of range is refused naming ``where`` (the file, or the live page's message)."""
    if not isinstance(data, dict):
        raise BackpropvizError(f"{where} must hold a JSON object of run settings; "
                               f"got a {type(data).__name__}")
    known = {f.name for f in fields(RunConfig)}
    unknown = sorted(set(data) - known, key=str)
    if unknown:
        raise BackpropvizError(f"{where}: unknown setting {unknown[0]!r}; settings are "
                               f"{', '.join(sorted(known))}")
    try:
        config = RunConfig.from_dict(data)
    except (TypeError, ValueError) as exc:
        raise BackpropvizError(f"{where}: a setting has a value of the wrong kind ({exc})") from None
    try:
        return config.validate()
    except BackpropvizError as exc:
        raise BackpropvizError(f"{where}: {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise BackpropvizError(f"{where}: a setting has a value of the wrong kind ({exc})") from None


# Every seed seeds numpy, torch and scikit-learn, whose random_state takes 0 .. 2**32 - 1.
MAX_SEED = 2**32 - 1


def check_seed(value, option: str = "--seed") -> int:
    """``value`` if it is a whole number that every random generator here takes."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise BackpropvizError(f"{option} must be a whole number from 0 to {MAX_SEED}; got {value!r}")
    return value


def check_lr_changes(changes, lr_min: float = 0.0, name: str = "lr_changes") -> None:
    """``changes`` are ``(step, lr)`` pairs, steps whole numbers >= 0 in increasing order, each lr
    as ``--lr`` takes it (and not below ``--lr-min``). Errors begin with ``name``."""
    rule = "lr_changes must be a list of [step, lr] pairs, e.g. [[120, 0.9], [300, 2.5]]"
    if not isinstance(changes, tuple):
        raise BackpropvizError(f"{rule}; got {changes!r}"[:300])
    previous = -1
    for pair in changes:
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise BackpropvizError(f"{rule}; got the entry {pair!r}"[:300])
        step, lr = pair
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise BackpropvizError(f"{name}: a step must be a whole number >= 0; got {step!r}"[:300])
        if step <= previous:
            raise BackpropvizError(f"{name}: the steps must increase; got step {step} after step {previous}")
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not (math.isfinite(lr) and 0 < lr <= FLOAT32_MAX):
            raise BackpropvizError(f"{name}: the lr at step {step} must be a number > 0 (at most "
                                   f"{FLOAT32_MAX:.3g}, float32's largest); got {lr!r}"[:300])
        if lr < lr_min:
            raise BackpropvizError(f"{name}: the lr at step {step} must be at least --lr-min {lr_min}; got {lr}")
        previous = step


def check_init_values(values) -> None:
    """Initial parameters are float32: finite and within float32's range (else they start as inf)."""
    bad = [v for v in values if not (math.isfinite(v) and abs(v) <= FLOAT32_MAX)]
    if bad:
        raise BackpropvizError(f"--init values must be finite numbers within +-{FLOAT32_MAX:.4g} "
                               f"(float32's largest, as the parameters are stored); got {bad[0]:g}")


def parse_list(text: str | None, option: str) -> tuple[str, ...] | None:
    """``"a, b"`` -> ``("a", "b")``; empty or None -> None (for ``--features``)."""
    if text is None or not str(text).strip():
        return None
    parts = tuple(p.strip() for p in str(text).split(","))
    if not all(parts):
        raise BackpropvizError(f"--{option} must be comma-separated names such as a,b; got {text!r}")
    return parts


def parse_betas(text: str | None) -> tuple[float, float] | None:
    """``"0.9,0.999"`` -> ``(0.9, 0.999)`` for ``--betas``; None stays None."""
    if text is None:
        return None
    try:
        values = tuple(float(p) for p in str(text).split(","))
    except ValueError:
        values = ()
    if len(values) != 2 or not all(0 <= v < 1 for v in values):
        raise BackpropvizError(f"--betas must be two numbers in [0, 1) such as 0.9,0.999; got {text!r}")
    return values


def parse_lr_changes(text: str | None, lr_min: float = 0.0) -> tuple[tuple[int, float], ...]:
    """``"120:0.9,300:2.5"`` -> ``((120, 0.9), (300, 2.5))`` for ``--lr-changes`` (the playground
    link's ``lr_changes=`` text), checked as RunConfig checks ``lr_changes``; None or empty: ().

    >>> parse_lr_changes("120:0.9, 300:2.5")
    ((120, 0.9), (300, 2.5))
    """
    if text is None or not str(text).strip():
        return ()
    changes = []
    for part in str(text).split(","):
        step, _, lr = part.partition(":")
        try:
            changes.append((int(step.strip()), float(lr.strip())))
        except ValueError:
            raise BackpropvizError(f"--lr-changes must be STEP:LR pairs separated by commas, steps whole numbers, "
                                   f"such as 120:0.9,300:2.5; got {part.strip()!r} in {text!r}"[:300]) from None
    changes = tuple(changes)
    check_lr_changes(changes, lr_min, "--lr-changes")
    return changes


def parse_init(text: str, n_params: int | None = None) -> tuple[float, ...]:
    """Parse ``--init`` text such as ``-1,1,0`` into floats."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise BackpropvizError(
            f"--init must be comma-separated numbers such as -1,1,0 (w1,w2,b), or one of random, xavier, "
            f"he, normal:SCALE; got {text!r}"
        ) from None
    check_init_values(values)
    if n_params is not None and len(values) != n_params:
        raise BackpropvizError(
            f"--init needs {n_params} values (w1,w2,b for the perceptron); got {len(values)} in {text!r}"
        )
    return values
