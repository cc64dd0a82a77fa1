"""backpropviz: make backpropagation visible.

The package root stays light (no torch, no matplotlib) so that ``backpropviz --help``
answers at once; import the layers you need::

    from backpropviz.config import RunConfig
    from backpropviz.train import train
    history = train(RunConfig())          # the article's AND-gate run

Your own loop: ``backpropviz.record(model, optimizer, "runs/x")`` as a ``with`` block, then
``backpropviz.load_recording("runs/x")`` (docs/recording-format.md); imported on first use.
One step of any model: ``backpropviz.explain_step(model, loss_fn, x, y, out="out/explain")`` (its
graph, forward values and gradients) and ``backpropviz.check_gradients(...)`` (finite differences).
"""

__version__ = "0.1.0"

_RECORD_API = ("record", "every", "logspaced", "load_recording", "Recording", "Recorder")
# backpropagation at one step of any model: its graph and figure, the check against finite differences
_EXPLAIN_API = ("explain_step", "check_gradients")


def __getattr__(name):
    if name in _RECORD_API:
        import importlib

        package = importlib.import_module(".record", __name__)
        return package if name == "record" else getattr(package, name)
    if name in _EXPLAIN_API:
        import importlib

        return getattr(importlib.import_module(".explain", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
