"""A small convolutional network on scikit-learn's digits, trained by a plain PyTorch loop and
recorded by backpropviz with two added lines (marked ``# backpropviz``).

    python examples/digits_cnn.py                       # a few seconds: 4 epochs, into out/digits_cnn
    python examples/digits_cnn.py out/cnn --epochs 30   # a longer run
    python examples/digits_cnn.py --lang ja             # figure labels in Japanese

It writes into the folder given (default ``out/digits_cnn``):

- ``recording/``: the recording (docs/recording-format.md): every step's loss, learning rate and
  per-layer norms, and full snapshots of the parameters, gradients and BatchNorm statistics every
  10 steps;
- ``recording.html``: the recording's interactive page (what ``backpropviz html`` writes for it);
- ``figures/``: the recording's figures (loss, per-layer gradient norms and update/weight ratios,
  weight and gradient distributions per layer, the path on the snapshots' PCA plane);
- ``explain/``: backpropagation at the last state on one batch of four images: the graph with its
  forward values and gradients (``backpropviz.explain_step``).

The factories ``make_model`` and ``validation_data`` are what ``backpropviz landscape --model``
and ``--data`` take, for example from the examples folder::

    backpropviz landscape --model digits_cnn:make_model --data digits_cnn:validation_data \\
        --recording out/digits_cnn/recording --method pca
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
N_VALIDATION = 297  # of the 1,797 images; the first 1,500 train


class DigitsCNN(nn.Module):
    """1 x 8 x 8 images -> 10 classes: two 3 x 3 convolutions with BatchNorm, ReLU, pooling, a linear head."""

    def __init__(self, channels: int = 8):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(channels, 2 * channels, 3, padding=1), nn.BatchNorm2d(2 * channels), nn.ReLU(),
            nn.MaxPool2d(2))
        self.head = nn.Linear(2 * channels * 2 * 2, 10)

    def forward(self, x):
        return self.head(self.features(x).flatten(1))


def make_model() -> nn.Module:
    """The network with its seeded start (called with no arguments, as ``--model`` calls it)."""
    torch.manual_seed(SEED)
    return DigitsCNN()


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """All 1,797 images as (N, 1, 8, 8) float32 in [0, 1] and their classes (N,)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    X = torch.tensor(bunch.images / 16.0, dtype=torch.float32).unsqueeze(1)
    return X, torch.tensor(bunch.target, dtype=torch.long)


def validation_data() -> tuple[torch.Tensor, torch.Tensor]:
    """The held-out images (the last 297), as ``--data`` takes them."""
    X, y = digits()
    return X[-N_VALIDATION:], y[-N_VALIDATION:]


def accuracy(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        acc = (model(X).argmax(1) == y).float().mean().item()
    model.train()
    return acc


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default="out/digits_cnn", type=Path,
                        help="folder for the recording and its figures (default out/digits_cnn)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of training (default 4: a few seconds)")
    parser.add_argument("--lang", choices=("en", "ja"), default="en", help="language of the figures")
    args = parser.parse_args(argv)
    if args.epochs < 1:
        print(f"error: --epochs takes a whole number of at least 1; got {args.epochs}", file=sys.stderr)
        return 2

    X, y = digits()
    X_train, y_train = X[:-N_VALIDATION], y[:-N_VALIDATION]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X_train, y_train), batch_size=64,
                                         shuffle=True, generator=torch.Generator().manual_seed(SEED))
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()

    try:
        with backpropviz.record(model, optimizer, args.out / "recording",               # backpropviz
                                snapshots=backpropviz.every(10)) as rec:
            for _ in range(args.epochs):
                for xb, yb in loader:
                    optimizer.zero_grad()
                    loss = loss_fn(model(xb), yb)
                    loss.backward()
                    optimizer.step()
                    rec.step(loss)                                                       # backpropviz
    except BackpropvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    recording = backpropviz.load_recording(args.out / "recording")
    print(f"{len(recording.steps)} steps recorded: loss {recording.loss[0]:.3f} at the first step, "
          f"{recording.loss[-1]:.3f} at the last; validation accuracy {accuracy(model, *validation_data()):.1%}")
    written = show(recording, model, loss_fn, X_train[:4], y_train[:4], args.out, args.lang)
    for path in written:
        print(f"wrote {path}")
    return 0


def show(recording, model, loss_fn, x, y, out: Path, lang: str) -> list[Path]:
    """The recording's figures and page, and backpropagation on one small batch at the last state."""
    from backpropviz.render.layerstats import write_recording_figures
    from backpropviz.web.packrec import recording_page_data
    from backpropviz.web.page import write_page

    figures, skipped = write_recording_figures(recording, out / "figures", lang=lang)
    for reason in skipped:
        print(f"note: {reason}")
    figures.append(write_page(recording_page_data(recording, lang=lang), out / "recording.html"))
    backpropviz.explain_step(model, loss_fn, x, y, out=out / "explain", lang=lang)
    return figures + [out / "explain" / "graph.png"]


if __name__ == "__main__":
    sys.exit(main())
