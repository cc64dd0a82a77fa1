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

# The article's settings: AND gate, perceptron, BCE, SGD lr 0.5, 1000 full-batch epochs,
# seed 2025, initial w1=-1, w2=1, b=0.
ARTICLE_INIT = (-1.0, 1.0, 0.0)


@dataclass(frozen=True)
class RunConfig:
    """Everything needed to reproduce a run. Defaults are the article's experiment."""

    data: str = "and"
    model: str = "perceptron"
    loss: str = "bce"
    optimizer: str = "sgd"
    lr: float = 0.5
    momentum: float = 0.0
    epochs: int = 1000
    seed: int = 2025
    init: tuple[float, ...] | None = ARTICLE_INIT

    def __post_init__(self):
        if self.init is not None:
            object.__setattr__(self, "init", tuple(float(v) for v in self.init))

    def validate(self) -> "RunConfig":
        """Check ranges and names; raise BackpropvizError naming the bad field."""
        from .data import DATASETS
        from .errors import choice_error

        if self.data.lower() not in DATASETS:
            raise choice_error("data set", self.data, DATASETS)
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and self.lr > 0):
            raise BackpropvizError(f"--lr must be a number > 0; got {self.lr}")
        if not 0 <= self.momentum < 1:
            raise BackpropvizError(f"--momentum must be in [0, 1); got {self.momentum}")
        if not (isinstance(self.epochs, int) and self.epochs >= 1):
            raise BackpropvizError(f"--epochs must be an integer >= 1; got {self.epochs}")
        if self.init is not None and not all(math.isfinite(v) for v in self.init):
            raise BackpropvizError(f"--init values must be finite numbers; got {self.init}")
        return self

    def to_dict(self) -> dict:
        d = asdict(self)
        d["init"] = list(self.init) if self.init is not None else None
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


def parse_init(text: str, n_params: int | None = None) -> tuple[float, ...]:
    """Parse ``--init`` text such as ``-1,1,0`` into floats."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        raise BackpropvizError(
            f"--init must be comma-separated numbers such as -1,1,0 (w1,w2,b); got {text!r}"
        ) from None
    if not all(math.isfinite(v) for v in values):
        raise BackpropvizError(f"--init values must be finite numbers; got {text!r}")
    if n_params is not None and len(values) != n_params:
        raise BackpropvizError(
            f"--init needs {n_params} values (w1,w2,b for the perceptron); got {len(values)} in {text!r}"
        )
    return values
