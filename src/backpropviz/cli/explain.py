"""``explain`` and ``gradcheck``: backpropagation itself, for one step of a run.

``explain`` prints the chain rule of the step (the perceptron's table, or every node of the
traced graph for other models) and writes the computation graph, the update arrows on the
loss contour and, for the perceptron, the chain-rule table and the boundary pushes.
``gradcheck`` compares backpropagation with central finite differences in float64.
Both take a saved history or the options of ``run`` (a run is trained first), or a model
backpropviz did not build: ``--model package.module:factory [--checkpoint FILE] --data
package.module:factory [--loss ...]`` (see ``usermodel.py``), explained on the first batch of its data.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import FormatOpt, LangOpt, app, check_format, check_writable_dir, check_writable_file, fail
from .app import takes_palette
from .options import RunOptions, takes_run_options

HistoryArg = Annotated[Optional[Path], typer.Argument(
    help="A .npz history written by --save-history, or a folder written by run --recording. Without it, a run is "
         "trained from the run options.",
    metavar="[HISTORY.npz]")]
StepOpt = Annotated[int, typer.Option("--step", "-s", help="The step to explain: 0 (the first) to T-1; "
                                                           "-1 is the last.")]
SampleOpt = Annotated[Optional[int], typer.Option(
    "--sample", "-k", help="One sample of the step's batch (0..N-1). Default: the whole batch.")]
ModelCheckpointOpt = Annotated[Optional[Path], typer.Option(
    "--checkpoint", help="With --model package.module:factory, a torch.save file of the model's state_dict "
                         "(read with weights_only=True), loaded into the model before the step.")]
EvalModeOpt = Annotated[bool, typer.Option(
    "--eval-mode", help="With --model package.module:factory, put the model in eval mode first (dropout off, "
                        "BatchNorm's running statistics). Default: the mode the factory returns it in "
                        "(a new nn.Module is in training mode); the graph says which.")]
MAX_USER_BATCH = 256  # samples of the first batch explained, unless --batch-size says otherwise


def _user_batch(history_file, run_options, checkpoint, eval_mode: bool, lang: str, command: str):
    """``(UserModel, X, y)``: the user's model (checkpoint loaded, in the mode asked for) and the
    first batch of its data, cut to --batch-size (default MAX_USER_BATCH) samples."""
    from ..i18n import t
    from ..usermodel import first_batch
    from .options import RUN_DEFAULTS
    from .usermodel import load_user, refuse_run_options

    if history_file is not None:
        fail(f"give a history file or --model package.module:factory, not both; got {history_file} and "
             f"--model {run_options.values['model']}")
    size = run_options.values["batch_size"]
    run_options.values["batch_size"] = RUN_DEFAULTS["batch_size"]  # it picks the samples here
    refuse_run_options(run_options, command)
    if size is not None and size < 1:
        fail(f"--batch-size must be >= 1; got {size}")
    user, _, _ = load_user(run_options, [checkpoint] if checkpoint is not None else [])
    if eval_mode:
        user.model.eval()
    X, y = first_batch(user.data)
    limit = size or MAX_USER_BATCH
    if len(X) > limit:
        if size is None:  # cut by the default, not by the user's --batch-size
            print(f"note: {t('cli_explain_batch_cut', lang, n=limit, total=len(X))}", file=sys.stderr)
        X, y = X[:limit], y[:limit]
    return user, X, y


def _refuse_without_user_model(checkpoint, eval_mode) -> None:
    if checkpoint is not None:
        fail("--checkpoint needs --model package.module:factory (a model of your own); a run's parameters come "
             "from its history")
    if eval_mode:
        fail("--eval-mode needs --model package.module:factory (a model of your own); the built-in models have "
             "no dropout or batch norm")


def _history(history_file: Path | None, run_options: RunOptions, lang: str = "en"):
    """The history to explain: loaded from the file, or trained from the run options (never both);
    notes in ``lang``."""
    if history_file is not None:
        from .core import load_history

        run_options.refuse_with_history(history_file)
        return load_history(history_file)  # a history file, or a folder of run --recording
    from ..losses import get_loss
    from .core import _train_or_fail

    config = run_options.config(lang=lang)
    get_loss(config.loss)
    return _train_or_fail(config, None)


def _node_text(trace, sample, lang: str = "en") -> str:
    """Every node of the traced graph on one line: value and gradient (any model), in columns
    as wide as their widest entry."""
    from ..analysis.graph_trace import format_array
    from ..i18n import t
    from ..render.chain import ljust, text_width

    rows = [[t("cli_col_node", lang), t("cli_col_kind", lang), t("cli_col_value", lang), t("cli_col_grad", lang)]]
    for node in trace.nodes:
        value, grad = trace.numbers(node, sample)
        rows.append([node.name, t(f"kind_{node.kind}", lang), format_array(value), format_array(grad)])
    widths = [max(text_width(r[j]) for r in rows) for j in range(3)]
    return "".join("  ".join(ljust(c, w) for c, w in zip(r[:3], widths)) + "  " + r[3] + "\n" for r in rows)


@app.command()
@takes_palette
@takes_run_options()
def explain(
    history_file: HistoryArg = None,
    step: StepOpt = 0,
    sample: SampleOpt = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the figures.")] = Path("out/explain"),
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    markdown: Annotated[Optional[Path], typer.Option(
        "--markdown", help="Also write the step as article-ready Markdown (LaTeX formulas) to this .md file "
                           "(a missing folder is made, as for --out). Perceptron: the chain-rule table per sample, "
                           "its sums and the update. Other models (MLPs, your own): the graph's values and "
                           "gradients as a table, each layer's backward equation with its numbers, and the "
                           "update of every parameter beside the recorded change.")]
    = None,
    dot: Annotated[bool, typer.Option("--dot", help="Also write the graph as Graphviz DOT text (graph.dot).")] = False,
    collapse: Annotated[str, typer.Option(
        "--collapse", help="One node per layer: auto (for large models), yes or no.")] = "auto",
    arrow_steps: Annotated[int, typer.Option(
        "--arrow-steps", help="How many evenly spread steps get an update arrow on the path figure.")] = 8,
    field: Annotated[bool, typer.Option("--field/--no-field", help="Draw the field of -grad L on the slice.")] = True,
    checkpoint: ModelCheckpointOpt = None,
    eval_mode: EvalModeOpt = False,
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Show backpropagation at one step: the graph, the chain rule and the update.

    Prints the chain-rule table (perceptron) or the traced graph's numbers (other models) and
    writes graph.<fmt> (forward values and gradients on every node), updates.<fmt> (the step's
    update and each sample's share on the loss contour), updates_path.<fmt> (updates along the
    run) and, for the perceptron, chain_rule.<fmt> and boundary_push.<fmt>.

    A model of your own (--model package.module:factory --data package.module:factory, optionally
    --checkpoint FILE and --loss): its step on the first batch of the data (--batch-size samples,
    default up to 256), any input shape (images too), BatchNorm and Dropout in the model's mode;
    a large model shows one node per module with shapes, norms, mean and std. Writes graph.<fmt>.
    """
    from ..i18n import resolve_lang
    from ..usermodel import is_factory_spec

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if is_factory_spec(run_options.values["model"]):
        return _explain_user(history_file, run_options, checkpoint, eval_mode, step=step, sample=sample, out=out,
                             fmt=fmt, lang=lang, markdown=markdown, dot=dot, collapse=collapse)
    _refuse_without_user_model(checkpoint, eval_mode)
    collapse_value = _collapse_value(collapse)
    if arrow_steps < 1:
        fail(f"--arrow-steps must be >= 1; got {arrow_steps}")
    out = check_writable_dir(out)
    if markdown is not None:
        check_writable_file(markdown, "--markdown", (".md", ".markdown"))
    history = _history(history_file, run_options, lang)

    from ..analysis.chain_rule import chain_rule_table, is_perceptron_history
    from ..analysis.graph_trace import check_step, trace_history_step
    from ..history import atomic_write
    from ..render.chain import ChainRuleDisplay, chain_markdown, chain_text
    from ..render.graph import write_graph_figure
    from ..render.updates import BoundaryPushDisplay, UpdateArrowsDisplay

    step = check_step(history, step)
    trace = trace_history_step(history, step, collapse=collapse_value)
    trace.check_sample(sample)
    perceptron = is_perceptron_history(history) and history.X.shape[1] == 2
    write_graph_figure(trace, out / f"graph.{fmt}", sample=sample, lang=lang, fmt=fmt, history=history)
    written = [out / f"graph.{fmt}"]
    if dot:
        text = trace.to_dot(sample)
        atomic_write(out / "graph.dot", lambda f: f.write(text.encode()))
        written.append(out / "graph.dot")

    if perceptron:
        table = chain_rule_table(history, step)
        print(chain_text(table, sample=sample, lang=lang), end="")
        written.append(_write(lambda ax: ChainRuleDisplay.from_table(table, sample=sample, lang=lang, ax=ax),
                              out / f"chain_rule.{fmt}", ChainRuleDisplay(table).figsize(), lang, fmt, history))
        written.append(_write(lambda ax: BoundaryPushDisplay.from_history(history, step, lang=lang, ax=ax),
                              out / f"boundary_push.{fmt}", (8.5, 5.5), lang, fmt, history))
        if markdown is not None:
            md = chain_markdown(table, sample=sample, lang=lang)
            atomic_write(markdown, lambda f: f.write(md.encode()))
            written.append(markdown)
    else:
        from ..i18n import t

        print(t("cli_explain_step", lang, step=step, loss=f"{trace.loss:.6g}", n=trace.n_samples))
        print(_node_text(trace, sample, lang), end="")
        if markdown is not None:
            from ..analysis.chain_rule import layer_backward
            from ..render.chain import graph_markdown

            layers = layer_backward(trace if trace.collapsed else
                                    trace_history_step(history, step, collapse=True), sample)
            md = graph_markdown(history, step, trace, layers, sample=sample, lang=lang)
            atomic_write(markdown, lambda f: f.write(md.encode()))
            written.append(markdown)
    written.append(_write(
        lambda ax: UpdateArrowsDisplay.from_history(history, [step], per_sample=True, field=field, lang=lang,
                                                    ax=ax), out / f"updates.{fmt}", (7.5, 6), lang, fmt, history))
    written.append(_write(
        lambda ax: UpdateArrowsDisplay.from_history(history, n_steps=arrow_steps, field=field, lang=lang, ax=ax),
        out / f"updates_path.{fmt}", (7.5, 6), lang, fmt, history))
    for path in written:
        print(f"wrote {path}")


def _collapse_value(collapse: str):
    value = {"auto": "auto", "yes": True, "no": False}.get(collapse.lower())
    if value is None:
        fail(f"--collapse must be auto, yes or no; got {collapse!r}")
    return value


def _explain_user(history_file, run_options, checkpoint, eval_mode, *, step, sample, out, fmt, lang, markdown,
                  dot, collapse) -> None:
    """``explain`` for --model package.module:factory: the graph of one step on the first batch."""
    from ..analysis.graph_trace import trace_step
    from ..history import atomic_write
    from ..i18n import t
    from ..render.graph import write_graph_figure

    collapse_value = _collapse_value(collapse)
    if step != 0:
        fail(f"--step picks a step of a recorded run; a model of your own is explained at its parameters "
             f"(--checkpoint) on the first batch of --data; got --step {step}")
    if markdown is not None:
        fail("--markdown writes a recorded run's chain rule and update; for --model package.module:factory "
             "use --dot or the printed table")
    out = check_writable_dir(out)
    user, X, y = _user_batch(history_file, run_options, checkpoint, eval_mode, lang, "explain")
    trace = trace_step(user.model, user.loss_fn, X, y, collapse=collapse_value, per_sample="auto", flat_names=False)
    trace.check_sample(sample)
    write_graph_figure(trace, out / f"graph.{fmt}", sample=sample, lang=lang, fmt=fmt)
    written = [out / f"graph.{fmt}"]
    if dot:
        text = trace.to_dot(sample)
        atomic_write(out / "graph.dot", lambda f: f.write(text.encode()))
        written.append(out / "graph.dot")
    mode = "train" if user.model.training else "eval"
    print(t(f"cli_explain_model_{mode}", lang, model=user.model_spec, loss=f"{trace.loss:.6g}", n=trace.n_samples))
    print(_node_text(trace, sample, lang), end="")
    for path in written:
        print(f"wrote {path}")


def _gradcheck_user(history_file, run_options, checkpoint, eval_mode, *, step, eps, tol, per_tensor, out, fmt,
                    lang) -> None:
    """``gradcheck`` for --model package.module:factory, on the first batch of its data."""
    from ..analysis.gradcheck import gradcheck_module
    from ..explain import write_gradcheck_figure
    from ..i18n import t
    from ..render.chain import gradcheck_text

    if step != 0:
        fail(f"--step picks a step of a recorded run; a model of your own is checked at its parameters "
             f"(--checkpoint) on the first batch of --data; got --step {step}")
    user, X, y = _user_batch(history_file, run_options, checkpoint, eval_mode, lang, "gradcheck")
    check = gradcheck_module(user.model, user.loss_fn, X, y, eps=eps,
                             per_tensor="auto" if per_tensor is None else (None if per_tensor == 0 else per_tensor))
    print(gradcheck_text(check, lang=lang, title=t("gc_title_model", lang, model=user.model_spec, n=len(X))), end="")
    if out is not None:
        print(f"wrote {write_gradcheck_figure(check, out, lang=lang, fmt=fmt)}")
    if not check.passed(tol):
        print(t("explain_fix_gc_failed", lang, err=f"{check.max_rel_error:.2e}", tol=f"{tol:g}"))
        raise typer.Exit(1)


def _write(draw, path, figsize, lang, fmt, history):
    """Draw and write one figure of ``history`` (which then says where the run diverged, if it did)."""
    from ..render.updates import write_figure

    write_figure(draw, path, figsize, lang=lang, fmt=fmt, history=history)
    return path


@app.command()
@takes_palette
@takes_run_options(exclude=("eps",))  # --eps is the finite-difference step here
def gradcheck(
    history_file: HistoryArg = None,
    step: StepOpt = 0,
    eps: Annotated[float, typer.Option("--eps", help="Finite-difference step (float64).")] = 1e-6,
    tol: Annotated[float, typer.Option(
        "--tol", help="Exit with code 1 when the largest relative error exceeds this.")] = 1e-5,
    out: Annotated[Optional[Path], typer.Option(
        "--out", "-o", help="Also write gradcheck.<fmt> into this folder.")] = None,
    fmt: FormatOpt = "png",
    lang: LangOpt = None,
    checkpoint: ModelCheckpointOpt = None,
    eval_mode: EvalModeOpt = False,
    per_tensor: Annotated[Optional[int], typer.Option(
        "--per-tensor", help="With --model package.module:factory, how many elements of each parameter tensor to "
                             "check (a seeded sample); 0: all. Default: all up to 512 parameters, else 8.")] = None,
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Compare backpropagation's gradient with central finite differences (float64) at one step.

    A model of your own (--model package.module:factory --data package.module:factory, optionally
    --checkpoint FILE and --loss): on the first batch of the data, layer by layer, in the model's
    mode (dropout keeps one set of masks for every evaluation); a large model on a sample of each
    parameter tensor (--per-tensor), as the output says.
    """
    from ..i18n import resolve_lang
    from ..usermodel import is_factory_spec

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if not eps > 0:
        fail(f"--eps must be > 0; got {eps}")
    if not tol > 0:
        fail(f"--tol must be > 0; got {tol}")
    if per_tensor is not None and per_tensor < 0:
        fail(f"--per-tensor must be >= 0 (0: every element); got {per_tensor}")
    if out is not None:
        out = check_writable_dir(out)
    if is_factory_spec(run_options.values["model"]):
        return _gradcheck_user(history_file, run_options, checkpoint, eval_mode, step=step, eps=eps, tol=tol,
                               per_tensor=per_tensor, out=out, fmt=fmt, lang=lang)
    _refuse_without_user_model(checkpoint, eval_mode)
    if per_tensor is not None:
        fail("--per-tensor needs --model package.module:factory; a run's gradient check covers every parameter")
    history = _history(history_file, run_options, lang)

    from ..analysis.gradcheck import gradcheck_step
    from ..render.chain import GradCheckDisplay, gradcheck_text

    check = gradcheck_step(history, step, eps=eps)
    print(gradcheck_text(check, lang=lang), end="")
    if out is not None:
        path = _write(lambda ax: GradCheckDisplay.from_check(check, lang=lang, ax=ax), out / f"gradcheck.{fmt}",
                      (max(6.4, 0.55 * min(len(check.param_names), 40) + 3), 4.6), lang, fmt, history)
        print(f"wrote {path}")
    if not check.passed(tol):
        from ..i18n import t

        print(t("explain_fix_gc_failed", lang, err=f"{check.max_rel_error:.2e}", tol=f"{tol:g}"))
        raise typer.Exit(1)
