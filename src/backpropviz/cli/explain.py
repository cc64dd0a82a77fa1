"""``explain`` and ``gradcheck``: backpropagation itself, for one step of a run.

``explain`` prints the chain rule of the step (the perceptron's table, or every node of the
traced graph for other models) and writes the computation graph, the update arrows on the
loss contour and, for the perceptron, the chain-rule table and the boundary pushes.
``gradcheck`` compares backpropagation with central finite differences in float64.
Both take a saved history or the options of ``run`` (a run is trained first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import FormatOpt, LangOpt, app, check_format, check_writable_dir, check_writable_file, fail
from .app import takes_palette
from .options import RunOptions, takes_run_options

HistoryArg = Annotated[Optional[Path], typer.Argument(
    help="A .npz history written by --save-history. Without it, a run is trained from the run options.",
    metavar="[HISTORY.npz]")]
StepOpt = Annotated[int, typer.Option("--step", "-s", help="The step to explain: 0 (the first) to T-1; "
                                                           "-1 is the last.")]
SampleOpt = Annotated[Optional[int], typer.Option(
    "--sample", "-k", help="One sample of the step's batch (0..N-1). Default: the whole batch.")]


def _history(history_file: Path | None, run_options: RunOptions, lang: str = "en"):
    """The history to explain: loaded from the file, or trained from the run options (never both);
    notes in ``lang``."""
    if history_file is not None:
        from ..history import History

        run_options.refuse_with_history(history_file)
        return History.load(history_file)
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
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Show backpropagation at one step: the graph, the chain rule and the update.

    Prints the chain-rule table (perceptron) or the traced graph's numbers (other models) and
    writes graph.<fmt> (forward values and gradients on every node), updates.<fmt> (the step's
    update and each sample's share on the loss contour), updates_path.<fmt> (updates along the
    run) and, for the perceptron, chain_rule.<fmt> and boundary_push.<fmt>.
    """
    from ..i18n import resolve_lang

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    collapse_value = {"auto": "auto", "yes": True, "no": False}.get(collapse.lower())
    if collapse_value is None:
        fail(f"--collapse must be auto, yes or no; got {collapse!r}")
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
    run_options: RunOptions = None,  # the run options of `run`, put here by @takes_run_options
) -> None:
    """Compare backpropagation's gradient with central finite differences (float64) at one step."""
    from ..i18n import resolve_lang

    fmt = check_format(fmt)
    lang = resolve_lang(lang)
    if not eps > 0:
        fail(f"--eps must be > 0; got {eps}")
    if not tol > 0:
        fail(f"--tol must be > 0; got {tol}")
    if out is not None:
        out = check_writable_dir(out)
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
