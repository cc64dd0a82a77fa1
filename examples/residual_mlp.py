"""A residual MLP on the two-moons set, trained by a plain PyTorch loop (SGD with momentum, two
parameter groups, gradient clipping) and recorded by backpropviz with two added lines (marked
``# backpropviz``).

    python examples/residual_mlp.py                        # a few seconds: 30 epochs, into out/residual_mlp
    python examples/residual_mlp.py out/res --epochs 300   # a longer run
    python examples/residual_mlp.py --lang ja              # figure labels in Japanese

It writes into the folder given (default ``out/residual_mlp``):

- ``recording/``: the recording (docs/recording-format.md): every step's loss, the two groups'
  learning rates, per-layer norms of the clipped gradient, the weights and the update, a
  32-number projection of the parameters, and full snapshots at 12 log-spaced steps;
- ``recording.html``: the recording's interactive page (what ``backpropviz html`` writes for it);
- ``figures/``: the recording's figures (loss, per-layer gradient norms and update/weight ratios,
  weight and gradient distributions per layer, the path on the PCA plane).

The factories ``make_model`` and ``validation_data`` are what ``backpropviz landscape --model``
and ``--data`` take, for example from the examples folder::

    backpropviz landscape --model residual_mlp:make_model --data residual_mlp:validation_data \\
        --recording out/residual_mlp/recording --method pca
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

import backpropviz
from backpropviz.errors import BackpropvizError

SEED = 0
WIDTH = 32


class ResidualBlock(nn.Module):
    """x + W2 tanh(W1 LayerNorm(x)): the block adds a correction to what passes through it."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.inner = nn.Linear(width, width)
        self.outer = nn.Linear(width, width)

    def forward(self, x):
        return x + self.outer(torch.tanh(self.inner(self.norm(x))))


class ResidualMLP(nn.Module):
    """2 inputs -> ``width`` -> ``depth`` residual blocks -> 2 class logits."""

    def __init__(self, width: int = WIDTH, depth: int = 4):
        super().__init__()
        self.stem = nn.Linear(2, width)
        self.blocks = nn.Sequential(*(ResidualBlock(width) for _ in range(depth)))
        self.head = nn.Linear(width, 2)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


def make_model() -> nn.Module:
    """The network with its seeded start (called with no arguments, as ``--model`` calls it)."""
    torch.manual_seed(SEED)
    return ResidualMLP()


def moons(n: int = 1200, seed: int = SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """Two interleaved half-moons with noise 0.2, as float32 points (n, 2) and classes (n,)."""
    from sklearn.datasets import make_moons

    X, y = make_moons(n_samples=n, noise=0.2, random_state=seed)
    return torch.tensor(X, dtype=torch.float32), torch.tensor(y, dtype=torch.long)


def validation_data() -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out points from another draw of the same distribution, as ``--data`` takes them."""
    return moons(400, seed=SEED + 1)


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return (model(X).argmax(1) == y).float().mean().item()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="out/residual_mlp", type=Path,
                        help="folder for the recording and its figures (default out/residual_mlp)")
    parser.add_argument("--epochs", type=int, default=30, help="epochs of training (default 30: a few seconds)")
    parser.add_argument("--lang", choices=("en", "ja"), default="en", help="language of the figures")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        print(f"error: --epochs takes a whole number of at least 1; got {args.epochs}", file=sys.stderr)
        return 2

    X, y = moons()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=64, shuffle=True,
                                         generator=torch.Generator().manual_seed(SEED))
    model = make_model()
    # Two parameter groups: the blocks learn at a tenth of the stem's and the head's rate.
    optimizer = torch.optim.SGD([
        {"params": [*model.stem.parameters(), *model.head.parameters()], "lr": 0.1},
        {"params": model.blocks.parameters(), "lr": 0.01}], momentum=0.9)
    loss_fn = nn.CrossEntropyLoss()
    steps = args.epochs * len(loader)

    try:
        with backpropviz.record(model, optimizer, args.out / "recording", steps=steps,              # backpropviz
                                snapshots=backpropviz.logspaced(12), projection=32) as rec:
            for _ in range(args.epochs):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
                    optimizer.step()
                    rec.step(loss)                                                                  # backpropviz
    except BackpropvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    recording = backpropviz.load_recording(args.out / "recording")
    print(f"{len(recording.steps)} steps recorded: loss {recording.loss[0]:.3f} at the first step, "
          f"{recording.loss[-1]:.3f} at the last; validation accuracy {accuracy(model, *validation_data()):.1%}")
    for path in show(recording, args.out, args.lang):
        print(f"wrote {path}")
    return 0


def show(recording, out: Path, lang: str) -> list[Path]:
    """The recording's figures and page."""
    from backpropviz.render.layerstats import write_recording_figures
    from backpropviz.web.packrec import recording_page_data
    from backpropviz.web.page import write_page

    figures, skipped = write_recording_figures(recording, out / "figures", lang=lang)
    for reason in skipped:
        print(f"note: {reason}")
    figures.append(write_page(recording_page_data(recording, lang=lang), out / "recording.html"))
    return figures


if __name__ == "__main__":
    sys.exit(main())
