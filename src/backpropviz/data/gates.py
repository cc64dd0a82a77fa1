"""The six two-input logic gates, rows in the article's order (0,0), (0,1), (1,0), (1,1)."""

from __future__ import annotations

import numpy as np

from . import Dataset, register

GATE_INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], dtype=np.float32)

# Truth tables on GATE_INPUTS.
GATES: dict[str, tuple[int, int, int, int]] = {
    "and": (0, 0, 0, 1),
    "or": (0, 1, 1, 1),
    "nand": (1, 1, 1, 0),
    "nor": (1, 0, 0, 0),
    "xor": (0, 1, 1, 0),
    "xnor": (1, 0, 0, 1),
}


def _gate(name: str):
    def make(**_options) -> Dataset:
        y = np.array(GATES[name], dtype=np.float32)
        return Dataset(name, GATE_INPUTS.copy(), y, meta={"kind": "gate"})

    make.__doc__ = f"The {name.upper()} gate's truth table (4 rows; size, noise and seed do not apply)."
    return make


for _name in GATES:
    register(_name)(_gate(_name))
