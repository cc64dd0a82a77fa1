"""The computation graph of one training step, read from PyTorch's own autograd graph.

``trace_step`` runs one forward pass and its loss, then walks ``loss.grad_fn`` back to the
leaves. Every node of that walk becomes a ``GraphNode`` holding its forward value and the
gradient of the loss with respect to it, as ``torch.autograd.grad`` computed it. Nothing
is drawn by hand per model: a perceptron, an MLP or any ``nn.Module`` gives its own graph.

Forward values come from a ``TorchDispatchMode`` that sees every aten op of the forward pass;
each op's outputs and the autograd nodes autograd attached to them are joined by identity.
A custom ``torch.autograd.Function`` is one node named after its class (its forward value,
dL/d(output), and in ``input_grads`` what its ``backward`` returned); the ops inside its
forward are not autograd's and are not shown. In-place ops (``h.relu_()``, ``h += b``,
``h[:, 0] = 0``) are nodes of their own: the op that made ``h`` keeps its value from before.
A tensor computed before the forward pass (in ``__init__``, say) is a constant with its gradient.
Three presentation rules keep the picture readable (each can be switched off):

* views and copies (``t``, ``view``, ``expand``, ``clone``, ... : ``VIEW_OPS``) are folded into
  the edge they sit on;
* fused kernels are split into the operations a reader expects: ``addmm`` -> matmul + add,
  a mean-reduced loss -> per-sample loss + mean (the split nodes' numbers follow from the
  fused node's: ``add`` passes its gradient through, ``mean`` scales it by ``1/N``);
* large models collapse to one node per layer (leaf module).

The result is micrograd-style data, ``(nodes, edges)``; ``render.graph`` draws it and
``GraphTrace.to_dot`` writes Graphviz text.

>>> import torch
>>> from torch import nn
>>> import torch.nn.functional as F
>>> model = nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())
>>> X, y = torch.tensor([[0., 1.], [1., 1.]]), torch.tensor([[0.], [1.]])
>>> [n.name for n in trace_step(model, F.binary_cross_entropy, X, y).nodes]
['x', 'w', 'matmul', 'b', 'add', 'sigmoid', 'y', 'bce', 'mean']
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import BackpropvizError

# Ops that only re-index memory: folded into the edge they sit on (label shown on the edge).
VIEW_OPS = {
    "t": "ᵀ", "transpose": "ᵀ", "permute": "permute", "view": "", "_unsafe_view": "",
    "reshape": "", "expand": "", "unsqueeze": "", "squeeze": "", "alias": "", "clone": "",
    "_to_copy": "",
}

# Readable names for aten ops (anything else keeps its aten name).
OP_NAMES = {
    "mm": "matmul", "matmul": "matmul", "bmm": "matmul", "addmm": "linear", "mv": "matmul",
    "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide", "neg": "negate",
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "relu", "gelu": "gelu", "leaky_relu": "leaky_relu",
    "elu": "elu", "softplus": "softplus", "exp": "exp", "log": "log", "pow": "power",
    "binary_cross_entropy": "bce", "mse_loss": "mse", "mean": "mean", "sum": "sum",
    "binary_cross_entropy_with_logits": "bce_logits",
    "convolution": "conv", "native_batch_norm": "batch_norm", "_native_batch_norm_legit": "batch_norm",
    "_native_batch_norm_legit_functional": "batch_norm", "native_dropout": "dropout",
    "max_pool2d_with_indices": "max_pool2d", "avg_pool2d": "avg_pool2d", "_log_softmax": "log_softmax",
    "_softmax": "softmax", "nll_loss_forward": "nll_loss", "nll_loss2d_forward": "nll_loss",
}

# Reductions of torch's loss kernels (at::Reduction).
_REDUCTION_NONE, _REDUCTION_MEAN, _REDUCTION_SUM = 0, 1, 2

KINDS = ("input", "target", "param", "const", "op", "layer")

# Settings of a layer that its backward rule needs (analysis.chain_rule), kept on its node.
LAYER_ATTRS = ("negative_slope",)

# With per_sample="auto", per-sample shares of the parameters' gradients are kept up to this many
# numbers (samples x parameters); above it, only the batch's gradient.
PER_SAMPLE_BUDGET = 4_000_000


def training_mode(module: nn.Module | None) -> tuple[str, str]:
    """``(mode, family)`` of a module that computes differently in training and eval mode:
    ``('train' or 'eval', 'dropout' or 'norm')``; ``('', '')`` for any other module."""
    from torch.nn.modules.batchnorm import _NormBase
    from torch.nn.modules.dropout import _DropoutNd

    for family, classes in (("dropout", _DropoutNd), ("norm", _NormBase)):
        if isinstance(module, classes):
            return ("train" if module.training else "eval"), family
    return "", ""


@dataclass
class GraphNode:
    """One node: a leaf tensor (input, target, parameter, constant), an operation or a layer.

    ``value`` is the forward value and ``grad`` the gradient of the step's loss with respect
    to it (None where no gradient flows, e.g. the targets). When ``per_sample`` is true the
    first axis of both is the batch axis. ``param_names`` are the History's flat names of a
    parameter node's elements, row-major. A collapsed layer keeps its parameters in
    ``layer_params`` as ``{torch_name: (value, grad)}``.

    An operation names its autograd node (``autograd_node``, e.g. ``AddmmBackward0``) and numbers
    it (``autograd_index``: the nodes split from one fused kernel share it; -1 for leaves and
    layers). A custom ``torch.autograd.Function`` is one node named after its class; its
    ``input_grads`` are what its ``backward`` returned, one per input edge in the order of
    ``GraphTrace.edges`` (None where it gave none, e.g. for a target).
    A collapsed layer keeps the settings its backward rule needs in ``attrs`` (``LAYER_ATTRS``).
    ``mode`` says whether a dropout or batch norm layer (and its ops) ran in training mode
    (``'train'``: random masks, the batch's own statistics) or not (``'eval'``).
    """

    id: str
    name: str
    kind: str
    value: np.ndarray
    grad: np.ndarray | None
    op: str = ""
    per_sample: bool = False
    param_names: tuple[str, ...] = ()
    torch_name: str = ""
    module: str = ""
    autograd_node: str = ""
    layer_params: dict = field(default_factory=dict)
    autograd_index: int = -1
    input_grads: tuple = ()
    attrs: dict = field(default_factory=dict)  # a layer's settings its rule needs (negative_slope)
    mode: str = ""  # 'train' or 'eval' inside a dropout or batch norm layer (training_mode)
    mode_of: str = ""  # which: 'dropout' or 'norm'

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.value.shape)

    def __repr__(self) -> str:
        g = "none" if self.grad is None else f"|g|={np.linalg.norm(self.grad):.3g}"
        return f"GraphNode({self.id}, {self.name!r}, {self.kind}, shape={self.shape}, {g})"


@dataclass(frozen=True)
class GraphEdge:
    """A forward edge ``src -> dst``; the gradient flows back along it when ``src`` has one."""

    src: str
    dst: str
    label: str = ""


@dataclass
class GraphTrace:
    """The graph of one step: nodes in topological order (sources first), forward edges.

    ``contributions`` maps a parameter node's id (for a collapsed layer, ``"<layer id>:<torch
    name>"``) to each sample's share of its gradient, shape ``(N, *param.shape)``; the shares
    add up to the node's ``grad`` (less the L1/L2 term, kept in ``penalty_grads``).
    """

    nodes: list[GraphNode]
    edges: list[GraphEdge]
    loss: float
    n_samples: int
    step: int | None = None
    collapsed: bool = False
    contributions: dict[str, np.ndarray] = field(default_factory=dict)
    sample_indices: np.ndarray | None = None  # rows of the data set that formed the batch
    penalty_grads: dict[str, np.ndarray] = field(default_factory=dict)  # L1/L2 part of a param's grad

    def __repr__(self) -> str:
        return (f"GraphTrace(step={self.step}, nodes={len(self.nodes)}, edges={len(self.edges)}, "
                f"loss={self.loss:.4g}, n_samples={self.n_samples}, collapsed={self.collapsed})")

    def node(self, key: str) -> GraphNode:
        """The node with id ``key``, else the first whose name is ``key``."""
        for n in self.nodes:
            if n.id == key:
                return n
        for n in self.nodes:
            if n.name == key:
                return n
        raise KeyError(f"no node {key!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    def names(self) -> list[str]:
        return [n.name for n in self.nodes]

    def name_edges(self) -> list[tuple[str, str]]:
        """Edges as ``(src name, dst name)`` pairs."""
        ids = {n.id: n.name for n in self.nodes}
        return [(ids[e.src], ids[e.dst]) for e in self.edges]

    def backward_edges(self) -> list[GraphEdge]:
        """The edges the gradient flows back along, reversed (``dst -> src``)."""
        has_grad = {n.id for n in self.nodes if n.grad is not None}
        return [GraphEdge(e.dst, e.src, e.label) for e in self.edges if e.src in has_grad]

    def check_sample(self, sample: int | None) -> None:
        if sample is not None and not (0 <= sample < self.n_samples):
            raise BackpropvizError(
                f"--sample must be in 0..{self.n_samples - 1} (this step's batch has "
                f"{self.n_samples} samples); got {sample}")

    def layer_param_numbers(self, node: GraphNode, name: str, sample: int | None = None):
        """``(value, grad)`` of parameter ``name`` inside a collapsed layer; with ``sample``,
        that sample's share of the gradient."""
        self.check_sample(sample)
        value, grad = node.layer_params[name]
        key = f"{node.id}:{name}"
        if sample is not None and key in self.contributions:
            return value, self.contributions[key][sample]
        return value, grad

    def numbers(self, node: GraphNode, sample: int | None = None):
        """``(value, grad)`` of ``node`` for one sample of the batch, or for the whole batch.

        For a per-sample node, row ``sample``; for a parameter, its value and that sample's
        contribution to its gradient; other nodes (the loss, the mean) are batch-wide.
        """
        self.check_sample(sample)
        if sample is None:
            return node.value, node.grad
        if node.per_sample:
            return node.value[sample], None if node.grad is None else node.grad[sample]
        if node.id in self.contributions:
            return node.value, self.contributions[node.id][sample]
        return node.value, node.grad

    def to_dot(self, sample: int | None = None, *, digits: int = 4) -> str:
        """Graphviz DOT text: forward edges solid, backward (gradient) edges dashed red."""
        def fmt(a):
            return format_array(a, digits=digits).replace('"', "'")

        lines = ["digraph backprop {", "  rankdir=LR;", '  node [shape=box, fontname="Helvetica"];']
        for n in self.nodes:
            value, grad = self.numbers(n, sample)
            label = f"{n.name}\\nvalue = {fmt(value)}"
            if grad is not None:
                label += f"\\ndL/d{n.name} = {fmt(grad)}"
            shape = "ellipse" if n.kind in ("op", "layer") else "box"
            lines.append(f'  {n.id} [label="{label}", shape={shape}];')
        for e in self.edges:
            extra = f', label="{e.label}"' if e.label else ""
            lines.append(f"  {e.src} -> {e.dst} [color=black{extra}];")
        for e in self.backward_edges():
            lines.append(f"  {e.src} -> {e.dst} [color=red, style=dashed, constraint=false];")
        lines.append("}")
        return "\n".join(lines) + "\n"


def format_array(a, digits: int = 4, max_items: int = 6) -> str:
    """A short text for a value: the number itself, a small vector/matrix, or its shape and norm."""
    if a is None:
        return "-"
    a = np.asarray(a)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]):.{digits}g}"
    if a.size <= max_items:
        flat = ", ".join(f"{float(v):.{digits}g}" for v in a.reshape(-1))
        if a.ndim == 2 and min(a.shape) > 1:
            rows = "; ".join(", ".join(f"{float(v):.{digits}g}" for v in r) for r in a)
            return f"[{rows}]"
        return f"[{flat}]"
    return f"{'x'.join(map(str, a.shape))}, |.|={np.linalg.norm(a):.{digits}g}"


# -- recording the forward pass ----------------------------------------------------------------


@dataclass(eq=False)
class _OpRecord:
    op: str                # aten op name without overload, e.g. "addmm"
    args: tuple
    kwargs: dict
    outputs: tuple         # output tensors (for an in-place op on a view, the view's base last)
    module: str            # innermost module running when the op was dispatched
    edges: tuple = ()      # each output's autograd node and output number (None: no grad_fn)
    grad_enabled: bool = True  # False inside a custom autograd.Function's forward (and no_grad)
    values: dict = field(default_factory=dict)  # output index -> value before an in-place op changed it

    def value(self, i: int = 0) -> torch.Tensor:
        """Output ``i`` as this op produced it (a later in-place op may have changed the tensor)."""
        return self.values.get(i, self.outputs[i])


def _recorder():
    """A TorchDispatchMode that records every aten op with its arguments, outputs and module.

    Autograd attaches an output's ``grad_fn`` only after the dispatch returns, so each record's
    autograd nodes are read when the next op is dispatched (``settle``), before an in-place op
    can replace them: ``h.relu_()`` gives ``h`` a new ``grad_fn`` and a new value, and both
    the op that made ``h`` and ``relu_`` keep their own.
    """
    from torch.autograd.graph import get_gradient_edge
    from torch.utils._python_dispatch import TorchDispatchMode

    class Recorder(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.records: list[_OpRecord] = []
            self.module_stack: list[str] = [""]
            self.pending: list[_OpRecord] = []
            self.producer: dict[int, tuple[_OpRecord, int]] = {}  # id(tensor) -> its latest record

        def settle(self):
            for r in self.pending:
                r.edges = tuple(get_gradient_edge(o) if o.grad_fn is not None else None for o in r.outputs)
            self.pending.clear()

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            self.settle()
            in_place = func._schema.is_mutable
            if in_place:
                self._keep_values_before(func, args, kwargs)
            out = func(*args, **kwargs)
            outs = [o for o in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(o, torch.Tensor)]
            if in_place:  # writing into a view changes its base too (autograd: CopySlices)
                outs += [o._base for o in outs if o._is_view() and all(o._base is not p for p in outs)]
            name = func.overloadpacket.__name__.rstrip("_")
            r = _OpRecord(name, tuple(args), dict(kwargs), tuple(outs), self.module_stack[-1],
                          grad_enabled=torch.is_grad_enabled())
            self.records.append(r)
            self.pending.append(r)
            for i, o in enumerate(r.outputs):
                self.producer[id(o)] = (r, i)
            return out

        def _keep_values_before(self, func, args, kwargs):
            """Copy the tensors an in-place op is about to write, for the records that made them."""
            for i, arg in enumerate(func._schema.arguments):
                a = args[i] if i < len(args) else kwargs.get(arg.name)
                if isinstance(a, torch.Tensor) and arg.alias_info is not None and arg.alias_info.is_write:
                    for t in (a, a._base) if a._is_view() else (a,):
                        made = self.producer.get(id(t))
                        if made is not None and made[1] not in made[0].values:
                            made[0].values[made[1]] = t.detach().clone()

    return Recorder()


@contextlib.contextmanager
def _module_scopes(model: nn.Module, recorder):
    """Tell ``recorder`` which leaf module is running (for one node per layer). A module called
    again in the same pass (a shared layer) is ``name#2``, ``name#3``, ...: one node per call."""
    handles, calls = [], {}
    for name, module in model.named_modules():
        if any(True for _ in module.children()):
            continue

        def pre(_m, _inp, name=name):
            calls[name] = calls.get(name, 0) + 1
            recorder.module_stack.append(name if calls[name] == 1 else f"{name}#{calls[name]}")

        def post(_m, _inp, _out):
            recorder.module_stack.pop()

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def _tensors(args) -> list[torch.Tensor]:
    """The tensors among an op's arguments, those inside a list included (``cat``, ``stack``)."""
    out = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(t for t in a if isinstance(t, torch.Tensor))
    return out


def _is_custom(fn) -> bool:
    """Whether autograd node ``fn`` is the backward of a custom ``torch.autograd.Function``."""
    return isinstance(fn, torch.autograd.function.BackwardCFunction)


def _edge_of(r: _OpRecord, i: int):
    """The autograd edge (node, output number) of output ``i`` of ``r``: its gradient is dL/d(output)."""
    from torch.autograd.graph import get_gradient_edge

    return r.edges[i] if r.edges and r.edges[i] is not None else get_gradient_edge(r.outputs[i])


def _target_family(records, target: torch.Tensor) -> set[int]:
    """ids of the target and of every tensor made from it without gradient (reshape, .long())."""
    family = {id(target)}
    for r in records:
        if any(id(a) in family for a in _tensors(r.args)):
            family.update(id(o) for o in r.outputs if o.grad_fn is None and not o.requires_grad)
    return family


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(torch.float64).cpu().numpy().copy()


# -- tracing -----------------------------------------------------------------------------------


def trace_step(model: nn.Module, loss_fn, X, y, *, split_fused: bool = True, fold_views: bool = True,
               collapse: bool | str = "auto", per_sample: bool | str = True, step: int | None = None,
               sample_indices=None, penalty=None, flat_names: bool = True) -> GraphTrace:
    """Trace ``loss_fn(model(X), y)``: the autograd graph with forward values and gradients.

    ``collapse`` is True, False or ``"auto"`` (one node per layer when the expanded graph would
    be unreadable: more than 16 operations or a parameter with more than 32 elements).
    ``per_sample`` also computes each sample's contribution to every parameter's gradient
    (``"auto"``: while samples x parameters stay within ``PER_SAMPLE_BUDGET``); ``flat_names``
    names every parameter element as a History does (``GraphNode.param_names``; costly for a
    model of a million parameters, and needed only for recorded runs).
    ``penalty`` (a callable returning a scalar, e.g. training's L1/L2 term) is added to the
    loss, as training adds it; its gradient is then ``GraphTrace.penalty_grads``.
    The model's parameters, ``.grad``, buffers (BatchNorm's running statistics) and the
    random stream (dropout's masks come from a copy of it) are left untouched. ``X`` is any
    batch the model takes (a table, images, ...), samples on the first axis; ``y`` any target
    ``loss_fn`` takes (class indices stay integers).
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    try:
        return _trace(model, loss_fn, X, y, split_fused=split_fused, fold_views=fold_views,
                      collapse=collapse, per_sample=per_sample, step=step,
                      sample_indices=sample_indices, penalty=penalty, flat_names=flat_names)
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])


def _trace(model, loss_fn, X, y, *, split_fused, fold_views, collapse, per_sample, step,
           sample_indices, penalty, flat_names) -> GraphTrace:
    first = next(model.parameters(), None)
    dtype = torch.float32 if first is None else first.dtype
    device = torch.device("cpu") if first is None else first.device
    X = torch.as_tensor(np.asarray(X) if not isinstance(X, torch.Tensor) else X).to(device, dtype)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y).to(device)
    y = y.to(dtype) if y.is_floating_point() else y  # class indices stay integers (cross-entropy)
    if X.ndim == 0 or X.shape[0] == 0:
        raise BackpropvizError(f"X must have a batch axis first (samples, ...) and at least one sample; "
                               f"got shape {tuple(X.shape)}")
    n = X.shape[0]
    x_leaf = X.detach().clone().requires_grad_(True)  # so that dL/dx is computed too

    rec = _recorder()
    # the caller's random stream is not advanced: dropout draws its masks from a copy of it
    rng_devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), _module_scopes(model, rec), rec:
        out = model(x_leaf)
        target = y.reshape(out.shape) if y.numel() == out.numel() else y
        loss = loss_fn(out, target)
        if penalty is not None:
            loss = loss + penalty()
    if loss.numel() != 1 or loss.grad_fn is None:
        raise BackpropvizError("the loss must be a scalar that depends on the model's parameters")

    rec.settle()
    by_fn, made_before = _join_autograd(rec.records)
    reached = _walk(loss.grad_fn, stop=made_before)
    leaves = {id(fn.variable): fn.variable for fn in reached if hasattr(fn, "variable")}
    leaves.update((id(made_before[fn]), made_before[fn]) for fn in reached if fn in made_before)
    op_fns = [fn for fn in reached if not hasattr(fn, "variable") and fn not in made_before]
    missing = [fn.name() for fn in op_fns if fn not in by_fn]
    if missing:
        raise BackpropvizError(f"cannot trace this model: no operation of its forward pass made the "
                               f"autograd nodes {missing}")

    # Gradients of every node's output and every leaf, in one backward pass; a custom Function's
    # hook keeps what its backward returned. (An op whose autograd node has several outputs,
    # e.g. split, gets a node per output.)
    outputs_of = {fn: [k for k, e in enumerate(by_fn[fn][0].edges) if e is not None and e.node is fn]
                  or [by_fn[fn][1]] for fn in op_fns}
    edges = [_edge_of(by_fn[fn][0], k) for fn in op_fns for k in outputs_of[fn]]
    returned, hooks = {}, []
    for fn in op_fns:
        if _is_custom(fn):
            hooks.append(fn.register_hook(lambda g_in, g_out, fn=fn: returned.__setitem__(fn, g_in)))
    try:
        grads = torch.autograd.grad(loss, edges + list(leaves.values()), allow_unused=True,
                                    retain_graph=bool(per_sample))
    finally:
        for h in hooks:
            h.remove()
    it = iter(grads[:len(edges)])
    grad_of_fn = {fn: [next(it) for _ in outputs_of[fn]] for fn in op_fns}
    grad_of = {key: g for key, g in zip(leaves, grads[len(edges):])}

    builder = _Builder(model, n, x_leaf, _target_family(rec.records, target), grad_of, fold_views, flat_names,
                       made_in={id(o): r.module for r in rec.records for o in r.outputs},
                       view_modules=_view_only_modules(rec.records))
    position = {id(r): i for i, r in enumerate(rec.records)}
    # in forward order; for an in-place op on a view, the base's node (CopySlices) before the view's
    order = sorted(enumerate(op_fns),
                   key=lambda item: (position[id(by_fn[item[1]][0])], -outputs_of[item[1]][0]))
    for index, fn in order:
        r = by_fn[fn][0]
        if _is_custom(fn):
            start = position[id(r)]
            while start > 0 and not rec.records[start - 1].grad_enabled:
                start -= 1
            builder.add_custom(r, outputs_of[fn][0], fn, grad_of_fn[fn][0], returned.get(fn), index,
                               inside=rec.records[start:position[id(r)] + 1])
        else:
            builder.add_op(r, outputs_of[fn], fn, grad_of_fn[fn], split_fused, index)

    contributions = {}
    n_params = sum(t.numel() for t in builder.param_tensors.values())
    if per_sample is True or (per_sample == "auto" and n * n_params <= PER_SAMPLE_BUDGET):
        contributions = _contributions(builder.param_tensors, out, loss, n)
    nodes, edges, new_id = builder.finish(loss)
    contributions = {new_id[k]: v for k, v in contributions.items() if k in new_id}
    penalty_grads = {}
    if penalty is not None and contributions:
        # what the samples' shares leave over is the L1/L2 term's gradient
        penalty_grads = {nd.id: nd.grad - contributions[nd.id].sum(0) for nd in nodes
                         if nd.id in contributions and nd.grad is not None}

    trace = GraphTrace(nodes, edges, float(loss.detach()), n, step=step,
                       contributions=contributions, penalty_grads=penalty_grads,
                       sample_indices=None if sample_indices is None else np.asarray(sample_indices))
    n_ops = sum(1 for nd in trace.nodes if nd.kind == "op")
    biggest = max((p.numel() for p in model.parameters()), default=0)
    if collapse is True or (collapse == "auto" and (n_ops > 16 or biggest > 32)):
        trace = collapse_layers(trace, model)
    return trace


def module_path(scope: str) -> str:
    """The module path of a recorded scope: ``'block.fc#2'`` (its second call) -> ``'block.fc'``."""
    return scope.partition("#")[0]


def _view_only_modules(records) -> set[str]:
    """Leaf modules whose forward only re-indexes its input (``nn.Flatten``, ``nn.Unflatten``): their
    views are not folded away, so that every leaf module keeps a node of its own."""
    ran = {r.module for r in records if r.module and r.grad_enabled}
    computing = {r.module for r in records if r.module and r.op not in VIEW_OPS}
    return ran - computing


def _join_autograd(records) -> tuple[dict, dict]:
    """``(by_fn, made_before)``: each autograd node -> ``(record, output index)`` of the op that
    made it, and the autograd nodes of tensors the forward pass used but did not make (computed
    before it, e.g. in ``__init__``) -> that tensor (a leaf of this step's graph).

    A tensor whose grad_fn came after its op was settled (a custom autograd.Function's output:
    the Function attaches it when forward returns) is joined by the grad_fn it holds now.
    """
    by_fn: dict = {}
    for r in records:
        for i, edge in enumerate(r.edges):
            if edge is not None:
                by_fn.setdefault(edge.node, (r, i))
    for r in records:
        for i, (o, edge) in enumerate(zip(r.outputs, r.edges)):
            if edge is None and o.grad_fn is not None and o.grad_fn not in by_fn:
                by_fn[o.grad_fn] = (r, i)
    made_before: dict = {}
    for r in records:
        for a in _tensors(r.args):
            if a.grad_fn is not None and a.grad_fn not in by_fn:
                made_before.setdefault(a.grad_fn, a)
    return by_fn, made_before


def _walk(root, stop) -> list:
    """The autograd nodes reached from ``root`` (depth first), not going past those in ``stop``."""
    reached, stack, seen = [], [root], set()
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        reached.append(fn)
        if fn not in stop:
            stack.extend(child for child, _ in fn.next_functions)
    return reached


class _Builder:
    """Turns recorded ops into nodes and edges (leaves are added when first used)."""

    def __init__(self, model, n, x_leaf, target, grad_of, fold_views, flat_names=True, made_in=None,
                 view_modules=()):
        self.model, self.n, self.x_leaf, self.target = model, n, x_leaf, target
        self.grad_of, self.fold_views = grad_of, fold_views
        self.made_in = made_in or {}  # id(tensor) -> the module whose forward made it
        self.view_modules = set(view_modules)  # modules that only re-index (Flatten): their views stay nodes
        self.buffer_info = {id(b): name for name, b in model.named_buffers()}
        self.modes = {name: training_mode(m) for name, m in model.named_modules()}
        self.nodes: list[GraphNode] = []
        self.edges: list[GraphEdge] = []
        self.node_of: dict[int, tuple[str, str]] = {}  # id(tensor) -> (node id, edge label)
        self.param_info = _param_info(model, flat_names)
        self.per_sample_ids: set[str] = set()
        self.param_tensors: dict[str, torch.Tensor] = {}
        self.node_of_fn: dict = {}  # (autograd node, output number) -> (node id, edge label)
        self.index = -1             # the autograd node being added (see GraphNode.autograd_index)

    def _new_id(self) -> str:
        return f"n{len(self.nodes)}"

    def _add(self, **kw) -> GraphNode:
        node = GraphNode(id=self._new_id(), **kw)
        self.nodes.append(node)
        return node

    def _grad(self, t):  # a leaf's gradient
        g = self.grad_of.get(id(t))
        return None if g is None else _np(g)

    def source(self, t: torch.Tensor) -> tuple[str, str]:
        """The node id (and edge label) that produced tensor ``t``, adding a leaf if new."""
        if id(t) in self.node_of:
            return self.node_of[id(t)]
        if t is self.x_leaf:
            node = self._add(name="x", kind="input", value=_np(t), grad=self._grad(t), per_sample=True)
            self.per_sample_ids.add(node.id)
        elif id(t) in self.param_info:
            disp, torch_name, flat_names = self.param_info[id(t)]
            node = self._add(name=disp, kind="param", value=_np(t), grad=self._grad(t),
                             param_names=flat_names, torch_name=torch_name,
                             module=torch_name.rpartition(".")[0])
            self.param_tensors[node.id] = t
        elif id(t) in self.target:
            node = self._add(name="y", kind="target", value=_np(t), grad=None, per_sample=True)
            self.per_sample_ids.add(node.id)
        elif id(t) in self.buffer_info:  # running_mean, running_var of a batch norm
            module, _, short = self.buffer_info[id(t)].rpartition(".")
            node = self._add(name=short, kind="const", value=_np(t), grad=self._grad(t), module=module,
                             torch_name=self.buffer_info[id(t)])
        else:  # made before the forward pass, or inside it without gradient (a dropout mask)
            node = self._add(name="const", kind="const", value=_np(t), grad=self._grad(t),
                             module=self.made_in.get(id(t), ""))
        self.node_of[id(t)] = (node.id, "")
        return self.node_of[id(t)]

    def _inputs(self, args) -> list[tuple[str, str]]:
        return [self.source(a) for a in _tensors(args)]

    def _op_node(self, name, value, grad, inputs, r, fn, op) -> GraphNode:
        per = any(i in self.per_sample_ids for i, _ in inputs) and value.ndim >= 1 \
            and value.shape[0] == self.n
        node = self._add(name=name, kind="op", value=value, grad=grad, op=op, per_sample=per,
                         module=r.module, autograd_node=fn.name(), autograd_index=self.index,
                         mode=self.modes.get(module_path(r.module), ("", ""))[0],
                         mode_of=self.modes.get(module_path(r.module), ("", ""))[1])
        if per:
            self.per_sample_ids.add(node.id)
        for src, label in inputs:
            self.edges.append(GraphEdge(src, node.id, label))
        return node

    def _produced(self, r: _OpRecord, node_id: str, label: str = "", outputs=None) -> None:
        """``node_id`` stands for these outputs of ``r`` (default: all) from now on, and for their
        autograd edges (what a custom Function's ``next_functions`` name)."""
        for k, o in enumerate(r.outputs):
            if outputs is not None and k not in outputs:
                continue
            self.node_of[id(o)] = (node_id, label)
            if o.grad_fn is not None or (r.edges and r.edges[k] is not None):
                edge = _edge_of(r, k)
                self.node_of_fn[(edge.node, edge.output_nr)] = (node_id, label)

    def add_op(self, r: _OpRecord, outputs: list[int], fn, grads, split_fused: bool, index: int) -> None:
        """The node(s) of autograd node ``fn``, made by ``outputs`` of the op recorded in ``r``
        (one node per output when there are several)."""
        self.index = index
        if self.fold_views and r.op in VIEW_OPS and r.module not in self.view_modules:
            src = _tensors(r.args)[0]
            src_id, label = self.source(src)
            self._produced(r, src_id, label + VIEW_OPS[r.op])
            return
        base = r.outputs[outputs[0]]._base
        if any(o is base for o in r.outputs[outputs[0] + 1:]) and id(base) in self.node_of:
            # the view an in-place op wrote into, used again: autograd regenerates its grad_fn from
            # the base's CopySlices, a view of the base's node
            self._produced(r, self.node_of[id(base)][0], outputs=outputs)
            return
        if len(outputs) > 1:
            inputs = self._inputs(r.args)
            for k, g in zip(outputs, grads):
                node = self._op_node(f"{OP_NAMES.get(r.op, r.op)}[{k}]", _np(r.value(k)),
                                     None if g is None else _np(g), inputs, r, fn, r.op)
                self._produced(r, node.id, outputs=(k,))
            return
        i, grad = outputs[0], grads[0]
        out, value, grad = r.outputs[i], _np(r.value(i)), None if grad is None else _np(grad)
        if split_fused:
            split = getattr(self, f"_split_{r.op}", None)
            if split is not None and split(r, out, fn, value, grad):
                return
        args = r.args
        if any(o._is_view() and o._base is out for o in r.outputs[:i]):
            # an in-place op on a view of ``out`` (h[:, 0] = 0, h[:, :2].relu_()): autograd's
            # CopySlices, drawn as the op applied to the whole of ``out`` as it was before
            args = (out,) + tuple(a for a in _tensors(args) if not (a._is_view() and a._base is out))
        node = self._op_node(OP_NAMES.get(r.op, r.op), value, grad, self._inputs(args), r, fn, r.op)
        self._produced(r, node.id)

    def add_custom(self, r: _OpRecord, i: int, fn, grad, returned, index: int, inside=()) -> None:
        """A custom ``torch.autograd.Function``: one node named after its class, its inputs read
        from the autograd graph (the ops inside its forward are not autograd's, so not shown),
        and the targets its forward read (``inside``: the ops run there, without gradient)."""
        self.index = index
        inputs, input_grads = [], []
        returned = returned or (None,) * len(fn.next_functions)
        for (child, nr), g in zip(fn.next_functions, returned):
            if child is None:
                continue
            inputs.append(self.source(child.variable) if hasattr(child, "variable") else self.node_of_fn[(child, nr)])
            input_grads.append(None if g is None else _np(g))
        made_inside = {id(o) for q in inside for o in q.outputs}
        for a in dict.fromkeys(a for q in inside for a in _tensors(q.args)
                               if id(a) in self.target and id(a) not in made_inside):
            if self.source(a) not in inputs:
                inputs.append(self.source(a))
                input_grads.append(None)
        cls = getattr(fn, "_forward_cls", None)
        name = cls.__name__ if cls is not None else fn.name().removesuffix("Backward")
        node = self._op_node(name, _np(r.value(i)), None if grad is None else _np(grad), inputs, r, fn, name)
        node.input_grads = tuple(input_grads)
        self._produced(r, node.id)

    # Each split rule sits beside the numbers it derives (micrograd style).
    def _split_addmm(self, r, out, fn, value, grad) -> bool:
        """addmm(b, A, B) = A @ B + b: 'add' passes its gradient through to 'matmul' unchanged."""
        if r.kwargs.get("beta", 1) != 1 or r.kwargs.get("alpha", 1) != 1 or len(r.args) > 3:
            return False
        bias, mat1, mat2 = r.args[:3]
        mm = self._op_node("matmul", _np(mat1) @ _np(mat2), grad, self._inputs((mat1, mat2)), r, fn, "mm")
        add = self._op_node("add", value, grad, [(mm.id, "")] + self._inputs((bias,)), r, fn, "add")
        self._produced(r, add.id)
        return True

    def _split_loss(self, name, elementwise, reduction, r, out, fn, value, grad) -> bool:
        """A reduced loss = per-sample loss, then mean (gradient / count) or sum (unchanged)."""
        if reduction not in (_REDUCTION_MEAN, _REDUCTION_SUM):
            return False
        count = int(np.prod(elementwise.shape))
        scale = 1.0 / count if reduction == _REDUCTION_MEAN else 1.0
        per_grad = None if grad is None else np.full(elementwise.shape, float(grad) * scale)
        per = self._op_node(name, elementwise, per_grad, self._inputs(r.args[:2]), r, fn, r.op)
        reducer = "mean" if reduction == _REDUCTION_MEAN else "sum"
        red = self._op_node(reducer, value, grad, [(per.id, "")], r, fn, reducer)
        self._produced(r, red.id)
        return True

    def _split_binary_cross_entropy(self, r, out, fn, value, grad) -> bool:
        """bce(p, y) = mean(-(y log p + (1 - y) log(1 - p))), torch's log clamped at -100."""
        if len(r.args) > 2 and r.args[2] is not None:  # a weighted BCE stays fused
            return False
        import torch.nn.functional as F

        reduction = r.args[3] if len(r.args) > 3 else r.kwargs.get("reduction", _REDUCTION_MEAN)
        p, target = r.args[0].detach(), r.args[1].detach()
        elementwise = _np(F.binary_cross_entropy(p, target, reduction="none"))
        return self._split_loss("bce", elementwise, reduction, r, out, fn, value, grad)

    def _split_mse_loss(self, r, out, fn, value, grad) -> bool:
        """mse(p, y) = mean((p - y)^2)."""
        reduction = r.args[2] if len(r.args) > 2 else r.kwargs.get("reduction", _REDUCTION_MEAN)
        elementwise = (_np(r.args[0]) - _np(r.args[1])) ** 2
        return self._split_loss("mse", elementwise, reduction, r, out, fn, value, grad)

    def finish(self, root_tensor) -> tuple[list[GraphNode], list[GraphEdge], dict[str, str]]:
        """Nodes in a readable topological order (each leaf just before its first consumer,
        inputs in argument order), renumbered n0, n1, ...; returns the old -> new id map."""
        inputs_of: dict[str, list[str]] = {}
        for e in self.edges:
            inputs_of.setdefault(e.dst, []).append(e.src)
        order, seen = [], set()

        def visit(node_id):  # iterative DFS post-order (graphs can be deep)
            stack = [(node_id, False)]
            while stack:
                nid, done = stack.pop()
                if done:
                    order.append(nid)
                    continue
                if nid in seen:
                    continue
                seen.add(nid)
                stack.append((nid, True))
                for src in reversed(inputs_of.get(nid, [])):
                    if src not in seen:
                        stack.append((src, False))

        visit(self.node_of[id(root_tensor)][0])
        new_id = {old: f"n{i}" for i, old in enumerate(order)}
        by_id = {nd.id: nd for nd in self.nodes}
        nodes = []
        for old in order:
            nd = by_id[old]
            nd.id = new_id[old]
            nodes.append(nd)
        edges = [GraphEdge(new_id[e.src], new_id[e.dst], e.label) for e in self.edges
                 if e.src in new_id and e.dst in new_id]
        return nodes, edges, new_id


def _param_info(model: nn.Module, flat_names: bool = True) -> dict[int, tuple[str, str, tuple[str, ...]]]:
    """id(parameter) -> (display name, torch name, flat History names of its elements (none
    without ``flat_names``))."""
    from ..models import param_names

    flat = param_names(model) if flat_names else None
    named = list(model.named_parameters())
    perceptron = getattr(model, "is_perceptron", False) or (
        len(named) == 2 and named[0][1].ndim == 2 and named[0][1].shape[0] == 1)
    layer_of: dict[str, int] = {}
    info, offset = {}, 0
    for torch_name, p in named:
        prefix, _, kind = torch_name.rpartition(".")
        layer = layer_of.setdefault(prefix, len(layer_of) + 1)
        letter = {"weight": "W", "bias": "b"}.get(kind, kind)
        if perceptron:
            disp = {"W": "w"}.get(letter, letter)
        else:
            disp = f"{letter}{layer}"
        info[id(p)] = (disp, torch_name, tuple(flat[offset : offset + p.numel()]) if flat is not None else ())
        offset += p.numel()
    return info


def _contributions(param_tensors: dict, out: torch.Tensor, loss: torch.Tensor, n: int) -> dict:
    """Each sample's share of every parameter's gradient: the vjp of its own output row.

    Exact when the model treats rows independently (no batch norm): then dL/dtheta is the sum
    over k of (dL/d out_k) (d out_k / d theta).
    """
    if not param_tensors:
        return {}
    ids, tensors = list(param_tensors), list(param_tensors.values())
    g_out = torch.autograd.grad(loss, out, retain_graph=True)[0]
    result: dict[str, list] = {pid: [] for pid in ids}
    chunk = 256  # bounds the (chunk, *out.shape) cotangent block
    for start in range(0, n, chunk):
        k = torch.arange(start, min(start + chunk, n))
        cot = torch.zeros((len(k), *g_out.shape), dtype=g_out.dtype, device=g_out.device)
        cot[torch.arange(len(k)), k] = g_out[k]
        shares = torch.autograd.grad(out, tensors, grad_outputs=cot, is_grads_batched=True,
                                     retain_graph=True, allow_unused=True)
        for pid, t, s in zip(ids, tensors, shares):
            result[pid].append(_np(s) if s is not None else np.zeros((len(k), *t.shape)))
    return {pid: np.concatenate(v) for pid, v in result.items()}


def collapse_layers(trace: GraphTrace, model: nn.Module | None = None) -> GraphTrace:
    """One node per layer (leaf module): its output value and gradient, its parameters inside.

    Operations outside any module (the loss and its mean) and the inputs stay as they are.
    """
    group_of: dict[str, str] = {}
    for nd in trace.nodes:
        if nd.kind in ("op", "param", "const") and nd.module:
            group_of[nd.id] = nd.module
    consumers: dict[str, list[str]] = {}
    for e in trace.edges:
        consumers.setdefault(e.src, []).append(e.dst)
    modules = {}
    if model is not None:
        modules = dict(model.named_modules())

    new_nodes, rep = [], {}
    layer_nodes: dict[str, GraphNode] = {}
    contributions: dict[str, np.ndarray] = {}
    for nd in trace.nodes:
        mod = group_of.get(nd.id)
        if mod is None:
            new_nodes.append(nd)
            rep[nd.id] = nd.id
            continue
        if mod not in layer_nodes:
            module = modules.get(module_path(mod))
            cls = type(module).__name__ if module is not None else "layer"
            attrs = {a: float(getattr(module, a)) for a in LAYER_ATTRS if hasattr(module, a)}
            layer_id = "L" + mod.replace(".", "_").replace("#", "_call")  # a valid DOT id ('fc#2': fc_call2)
            layer = GraphNode(id=layer_id, name=f"{cls} {mod}", kind="layer",
                              value=np.zeros(0), grad=None, module=mod, op=cls, attrs=attrs,
                              mode=training_mode(module)[0], mode_of=training_mode(module)[1])
            layer_nodes[mod] = layer
            new_nodes.append(layer)
        layer = layer_nodes[mod]
        rep[nd.id] = layer.id
        if nd.kind == "param":
            key = nd.torch_name or nd.name
            layer.layer_params[key] = (nd.value, nd.grad)
            if nd.id in trace.contributions:
                contributions[f"{layer.id}:{key}"] = trace.contributions[nd.id]
        elif nd.kind == "const":
            continue  # a buffer or a dropout mask: inside the layer, not its output
        else:
            # The layer's output is its op whose result leaves the module (the last one wins).
            leaves_module = any(group_of.get(c) != mod for c in consumers.get(nd.id, []))
            if leaves_module or layer.value.size == 0:
                layer.value, layer.grad, layer.per_sample = nd.value, nd.grad, nd.per_sample
    edges, seen = [], set()
    for e in trace.edges:
        s, d = rep[e.src], rep[e.dst]
        if s != d and (s, d) not in seen:
            seen.add((s, d))
            edges.append(GraphEdge(s, d))
    return GraphTrace(new_nodes, edges, trace.loss, trace.n_samples, step=trace.step, collapsed=True,
                      contributions=contributions, sample_indices=trace.sample_indices,
                      penalty_grads=trace.penalty_grads)


def step_lr(history, step: int) -> float:
    """The learning rate step ``step`` used: the recorded one (schedules), else the config's."""
    lr = getattr(history, "lr", None)
    if lr is not None and len(lr) > step and np.isfinite(lr[step]):
        return float(lr[step])
    return float(history.config.get("lr", 0.5))


# -- histories ---------------------------------------------------------------------------------


def check_step(history, step: int) -> int:
    """``step`` as a valid index into the history's steps, or a BackpropvizError with the range."""
    T = history.n_steps
    if T == 0:
        raise BackpropvizError("this history has no recorded steps")
    if not isinstance(step, (int, np.integer)) or not -T <= step < T:
        raise BackpropvizError(f"--step must be in 0..{T - 1} (this history has {T} steps); got {step}")
    return int(step) % T


def step_batch(history, step: int) -> np.ndarray:
    """Indices of the samples step ``step`` trained on: all rows unless ``batches`` says otherwise."""
    step = check_step(history, step)
    if history.batches is None:
        return np.arange(len(history.y))
    row = np.asarray(history.batches[step])
    return row[row >= 0]


def trace_history_step(history, step: int, **options) -> GraphTrace:
    """``trace_step`` for step ``step`` of a recorded run: a fresh model holding ``params[step]``."""
    from ..config import RunConfig
    from ..losses import get_loss
    from ..train import model_at, penalty_fn

    step = check_step(history, step)
    idx = step_batch(history, step)
    model = model_at(history, step)
    config = RunConfig.from_dict(history.config)
    penalty = penalty_fn(model, float(config.l1 or 0), float(config.l2 or 0))
    return trace_step(model, get_loss(config.loss), history.X[idx], history.y[idx], step=step,
                      sample_indices=idx, penalty=penalty, **options)
