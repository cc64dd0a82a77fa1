"""Backpropagation at one step of any model, from Python: ``explain_step`` and ``check_gradients``.

Both take the model, the loss function and one batch as a training loop has them (images,
tables, class indices, ...), leave the model as it was (parameters, ``.grad``, BatchNorm's
running statistics, the random stream) and, with ``out``, write the figures ``backpropviz
explain`` / ``gradcheck`` write::

    import backpropviz
    trace = backpropviz.explain_step(model, torch.nn.functional.cross_entropy, x, y, out="out/explain")
    trace.node("Conv2d features.0").grad          # dL/d(the layer's output), as autograd computed it
    check = backpropviz.check_gradients(model, torch.nn.functional.cross_entropy, x, y)
    check.passed(), check.layers()                # backpropagation against finite differences, per layer

The model is traced in the mode it is in (``model.train()`` or ``model.eval()``); the graph says
so on every dropout and batch norm layer.
"""

from __future__ import annotations

from pathlib import Path


def explain_step(model, loss_fn, x, y, *, out=None, collapse="auto", sample=None, lang=None,
                 fmt: str = "png", dot: bool = False):
    """The computation graph of ``loss_fn(model(x), y)``: every node's forward value and its
    gradient (``analysis.graph_trace.GraphTrace``); large models collapse to one node per
    module (``collapse``: ``"auto"``, True or False). With ``out`` (a folder), also writes
    ``graph.<fmt>`` (of the whole batch, or of sample ``sample``) and, with ``dot``, ``graph.dot``.
    """
    from .analysis.graph_trace import trace_step

    trace = trace_step(model, loss_fn, x, y, collapse=collapse, per_sample="auto", flat_names=False)
    trace.check_sample(sample)
    if out is not None:
        from .history import atomic_write
        from .render.figures import check_format
        from .render.graph import write_graph_figure

        fmt = check_format(fmt)
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        write_graph_figure(trace, out / f"graph.{fmt}", sample=sample, lang=lang, fmt=fmt)
        if dot:
            text = trace.to_dot(sample)
            atomic_write(out / "graph.dot", lambda f: f.write(text.encode()))
    return trace


def check_gradients(model, loss_fn, x, y, *, eps: float = 1e-6, per_tensor="auto", seed: int = 0, out=None,
                    lang=None, fmt: str = "png"):
    """Backpropagation's gradient against central finite differences in float64
    (``analysis.gradcheck.gradcheck_module``), per layer; a large model on a seeded sample of
    ``per_tensor`` elements of each parameter tensor. With ``out``, also writes ``gradcheck.<fmt>``."""
    from .analysis.gradcheck import gradcheck_module

    check = gradcheck_module(model, loss_fn, x, y, eps=eps, per_tensor=per_tensor, seed=seed)
    if out is not None:
        write_gradcheck_figure(check, Path(out), lang=lang, fmt=fmt)
    return check


def write_gradcheck_figure(check, out: Path, *, lang=None, fmt: str = "png", history=None) -> Path:
    """``out/gradcheck.<fmt>``: the bars of ``render.chain.GradCheckDisplay``; returns the path."""
    from .render.chain import GradCheckDisplay
    from .render.figures import check_format
    from .render.updates import write_figure

    fmt = check_format(fmt)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"gradcheck.{fmt}"
    write_figure(lambda ax: GradCheckDisplay.from_check(check, lang=lang, ax=ax), path,
                 (max(6.4, 0.55 * min(len(check.param_names), 40) + 3), 4.6), lang=lang, fmt=fmt, history=history)
    return path
