"""The chain-rule table and the gradient check: as terminal text, as Markdown, as figures.

``chain_text`` and ``chain_markdown`` need no matplotlib; ``ChainRuleDisplay`` and
``GradCheckDisplay`` draw the same numbers as a table and as bars.
"""

from __future__ import annotations

import numpy as np

from ..i18n import name_label, resolve_lang
from . import palette
from .graph import fmt_number, label

def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - text_width(text))


def rjust(text: str, width: int) -> str:
    return " " * max(0, width - text_width(text)) + text


# column key -> (plain-text header, mathtext header, LaTeX header)
COLUMNS = {
    "sample": ("k", "$k$", "$k$"),
    "x": ("x{i}", "$x_{i}$", "$x_{i}$"),
    "z": ("z", "$z$", "$z$"),
    "y_hat": ("ŷ", r"$\hat{{y}}$", r"$\hat y$"),
    "y": ("y", "$y$", "$y$"),
    "dL_dyhat": ("∂L/∂ŷ", r"$\partial L/\partial \hat{{y}}$", r"$\frac{{\partial L}}{{\partial \hat y}}$"),
    "dyhat_dz": ("∂ŷ/∂z", r"$\partial \hat{{y}}/\partial z$", r"$\frac{{\partial \hat y}}{{\partial z}}$"),
    "dL_dz": ("∂L/∂z", r"$\partial L/\partial z$", r"$\frac{{\partial L}}{{\partial z}}$"),
    "dL_dp": ("∂L/∂{p}", r"$\partial L/\partial {p}$", r"$\frac{{\partial L}}{{\partial {p}}}$"),
}


def _headers(table, style: int) -> list[str]:
    D = table.x.shape[1]
    heads = [COLUMNS["sample"][style]]
    heads += [COLUMNS["x"][style].format(i=i + 1) for i in range(D)]
    heads += [COLUMNS[k][style].format() for k in ("z", "y_hat", "y", "dL_dyhat", "dyhat_dz", "dL_dz")]
    for name in table.param_names:
        p = name if style == 0 else _tex_param(name)
        heads.append(COLUMNS["dL_dp"][style].format(p=p))
    return heads


def _tex_param(name: str) -> str:
    """'w1' -> 'w_1', 'b' -> 'b' (for mathtext and LaTeX)."""
    return f"{name[0]}_{{{name[1:]}}}" if len(name) > 1 and name[1:].isdigit() else name


def _cells(table, digits: int = 4) -> list[list[str]]:
    """Per-sample rows, then the summary rows (sum, recorded gradient, update, recorded change)."""
    rows = []
    for r in table.rows():
        cells = [str(r["sample"])] + [fmt_number(r[f"x{i + 1}"], digits) for i in range(table.x.shape[1])]
        cells += [fmt_number(r[k], digits) for k in ("z", "y_hat", "y", "dL_dyhat", "dyhat_dz", "dL_dz")]
        cells += [fmt_number(r[f"dL_d{n}"], digits) for n in table.param_names]
        rows.append(cells)
    return rows


def _summary(table, lang: str, digits: int = 4) -> list[tuple[str, list[str]]]:
    lines = []
    if np.any(table.penalty_grad):
        lines.append((label("penalty_row", lang), [fmt_number(v, digits) for v in table.penalty_grad]))
    lines += [(label("batch_sum", lang), [fmt_number(v, digits) for v in table.grad]),
             (label("recorded_grad", lang), [fmt_number(v, digits) for v in table.recorded_grad]),
             (label("update_row", lang) + f" (lr = {fmt_number(table.lr)})",
              [fmt_number(v, digits) for v in table.update]),
             (label("recorded_change", lang), [fmt_number(v, digits) for v in table.recorded_change])]
    return lines


def chain_text(table, *, sample: int | None = None, lang: str | None = None, digits: int = 4) -> str:
    """The table as aligned plain text for the terminal (``sample`` marks one row with '>')."""
    lang = resolve_lang(lang)
    if sample is not None:
        table.rows(sample)  # range check with the standard message
    heads = _headers(table, 0)
    body = _cells(table, digits)
    n_front = len(heads) - len(table.param_names)
    summary = _summary(table, lang, digits)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(heads)]
    for _, vals in summary:
        for j, v in enumerate(vals):
            widths[n_front + j] = max(widths[n_front + j], len(v))
    label_width = max(text_width(s) for s, _ in summary)

    def line(cells, mark=" "):
        return mark + " " + "  ".join(c.rjust(w) for c, w in zip(cells, widths))

    out = [label("chain_title", lang, step=table.step, loss=name_label("loss", table.loss_name, lang),
                 lr=fmt_number(table.lr)),
           line(heads), " " + "-" * (len(line(heads)) - 1)]
    for k, cells in enumerate(body):
        out.append(line(cells, ">" if k == sample else " "))
    out.append(" " + "-" * (len(line(heads)) - 1))
    pad = sum(widths[:n_front]) + 2 * n_front
    label_col = max(pad, label_width + 2)
    for name, vals in summary:
        out.append("  " + ljust(name, label_col)
                   + "  ".join(v.rjust(w) for v, w in zip(vals, widths[n_front:])))
    if not table.plain_sgd:
        out.append("  " + label("not_plain_sgd", lang))
    out.append("  " + label("chain_note", lang))
    return "\n".join(out) + "\n"


MD_TEXT = {
    "en": {
        "title": "### Backpropagation by hand: step {step}",
        "model": "The perceptron computes $z = {lin}$ and $\\hat y = \\sigma(z) = 1/(1+e^{{-z}})$. "
                 "The batch loss is the mean over the $N = {n}$ samples of the step, "
                 "$L = \\frac{{1}}{{N}}\\sum_k \\ell(\\hat y_k, y_k)$, with {loss_def}.",
        "chain": "The chain rule takes the derivative back through each operation, one factor per operation:",
        "factors": "Here {factors}, so $\\frac{{\\partial L}}{{\\partial z_k}} = {dz}$. "
                   "Every $\\partial L/\\partial\\cdot$ carries the $\\frac{{1}}{{N}}$ of the mean, so each row "
                   "below is one sample's share of the gradient.",
        "table": "Parameters before the step: {params}.",
        "sum": "**sum = gradient**", "recorded": "recorded gradient", "update": "$-\\eta\\,\\nabla L$",
        "change": "recorded change",
        "update_text": "Plain gradient descent with learning rate $\\eta = {lr}$ then moves every parameter by "
                       "$-\\eta\\,\\partial L/\\partial\\theta$:",
        "not_plain": "The optimizer is not plain SGD, so the recorded change also holds momentum or weight decay "
                     "and differs from $-\\eta\\,\\nabla L$.",
        "example": "For sample {k} (x = ({x}), y = {y}):",
    },
    "ja": {
        "title": "### 誤差逆伝播を手計算で: ステップ {step}",
        "model": "パーセプトロンは $z = {lin}$、$\\hat y = \\sigma(z) = 1/(1+e^{{-z}})$ を計算します。"
                 "バッチの損失はこのステップの $N = {n}$ 個のサンプルの平均 "
                 "$L = \\frac{{1}}{{N}}\\sum_k \\ell(\\hat y_k, y_k)$ で、{loss_def} です。",
        "chain": "連鎖律は、演算ごとに1つずつ因子を掛けながら微分を後ろへ伝えます:",
        "factors": "ここで {factors} なので、$\\frac{{\\partial L}}{{\\partial z_k}} = {dz}$ です。"
                   "$\\partial L/\\partial\\cdot$ はすべて平均の $\\frac{{1}}{{N}}$ を含むため、下の表の各行は"
                   "サンプル1つ分の勾配への寄与です。",
        "table": "ステップ前のパラメータ: {params}。",
        "sum": "**合計 = 勾配**", "recorded": "記録された勾配", "update": "$-\\eta\\,\\nabla L$",
        "change": "記録された変化量",
        "update_text": "学習率 $\\eta = {lr}$ の素の勾配降下法は、各パラメータを "
                       "$-\\eta\\,\\partial L/\\partial\\theta$ だけ動かします:",
        "not_plain": "最適化手法が素のSGDではないため、記録された変化量にはモーメンタムや重み減衰が含まれ、"
                     "$-\\eta\\,\\nabla L$ とは一致しません。",
        "example": "サンプル {k} (x = ({x}), y = {y}) の場合:",
    },
}

LOSS_TEX = {
    "bce": dict(definition=r"$\ell = -\left(y\log\hat y + (1-y)\log(1-\hat y)\right)$",
                dyhat=r"\frac{\partial L}{\partial \hat y_k} = \frac{1}{N}\,\frac{\hat y_k - y_k}{\hat y_k(1-\hat y_k)}",
                dz=r"\frac{\hat y_k - y_k}{N}"),
    "mse": dict(definition=r"$\ell = (\hat y - y)^2$",
                dyhat=r"\frac{\partial L}{\partial \hat y_k} = \frac{2}{N}\,(\hat y_k - y_k)",
                dz=r"\frac{2}{N}(\hat y_k - y_k)\,\hat y_k(1-\hat y_k)"),
}


def chain_markdown(table, *, sample: int | None = None, lang: str | None = None, digits: int = 4) -> str:
    """Article-ready Markdown: the formulas (LaTeX), the table, the sums and the update."""
    lang = resolve_lang(lang)
    T = MD_TEXT[lang]
    D = table.x.shape[1]
    tex = LOSS_TEX[table.loss_name]
    lin = " + ".join(f"w_{{{i + 1}}} x_{{{i + 1}}}" for i in range(D)) + " + b"
    out = [T["title"].format(step=table.step), "",
           T["model"].format(lin=lin, n=table.n, loss_def=tex["definition"]), "",
           T["chain"], "",
           "$$\n\\frac{\\partial L}{\\partial w_i} = \\sum_k "
           "\\frac{\\partial L}{\\partial \\hat y_k}\\,\\frac{\\partial \\hat y_k}{\\partial z_k}\\,"
           "\\frac{\\partial z_k}{\\partial w_i} = \\sum_k \\frac{\\partial L}{\\partial z_k}\\,x_{ik},"
           "\\qquad \\frac{\\partial L}{\\partial b} = \\sum_k \\frac{\\partial L}{\\partial z_k}\n$$", "",
           T["factors"].format(factors=f"${tex['dyhat']}$, "
                               r"$\frac{\partial \hat y}{\partial z} = \hat y(1-\hat y)$",
                               dz=tex["dz"]), "",
           T["table"].format(params=", ".join(f"${_tex_param(n)} = {fmt_number(v, digits).replace('−', '-')}$"
                                              for n, v in zip(table.param_names, table.params))), ""]
    heads = _headers(table, 2)
    out.append("| " + " | ".join(heads) + " |")
    out.append("|" + "|".join("---:" for _ in heads) + "|")
    for k, cells in enumerate(_cells(table, digits)):
        cells = [c.replace("−", "-") for c in cells]
        if k == sample:
            cells = [f"**{c}**" for c in cells]
        out.append("| " + " | ".join(cells) + " |")
    n_front = len(heads) - len(table.param_names)
    rows = [(T["sum"], table.grad), (T["recorded"], table.recorded_grad)]
    if np.any(table.penalty_grad):
        rows.insert(0, (label("penalty_row", lang), table.penalty_grad))
    for name, vals in rows:
        out.append("| " + name + " |" + " |" * (n_front - 1) + " "
                   + " | ".join(fmt_number(v, digits).replace("−", "-") for v in vals) + " |")
    out += ["", T["update_text"].format(lr=fmt_number(table.lr)), ""]
    out.append("| | " + " | ".join(f"${_tex_param(n)}$" for n in table.param_names) + " |")
    out.append("|---|" + "|".join("---:" for _ in table.param_names) + "|")
    for name, vals in [(T["update"], table.update), (T["change"], table.recorded_change)]:
        out.append(f"| {name} | " + " | ".join(fmt_number(v, digits).replace("−", "-") for v in vals) + " |")
    if not table.plain_sgd:
        out += ["", T["not_plain"]]
    if sample is not None:
        r = table.rows(sample)[0]
        x = ", ".join(fmt_number(r[f"x{i + 1}"], 3).replace("−", "-") for i in range(D))
        f = {k: fmt_number(r[k], digits).replace("−", "-") for k in ("dL_dyhat", "dyhat_dz", "dL_dz")}
        out += ["", T["example"].format(k=r["sample"], x=x, y=fmt_number(r["y"]).replace("−", "-")), "", "$$"]
        out.append(f"\\frac{{\\partial L}}{{\\partial z}} = {f['dL_dyhat']} \\times {f['dyhat_dz']} = {f['dL_dz']}")
        for i in range(D):
            xi = fmt_number(r[f"x{i + 1}"], 3).replace("−", "-")
            out.append(f"\\qquad \\frac{{\\partial L}}{{\\partial w_{{{i + 1}}}}} = {f['dL_dz']} \\times {xi} = "
                       f"{fmt_number(r[f'dL_dw{i + 1}'], digits).replace('−', '-')}")
        out.append(f"\\qquad \\frac{{\\partial L}}{{\\partial b}} = {f['dL_dz']}")
        out.append("$$")
    return "\n".join(out) + "\n"


class ChainRuleDisplay:
    """The chain-rule table as a figure: one row per sample, then the sums and the update."""

    def __init__(self, table, *, sample: int | None = None, lang="en", digits: int = 4):
        if sample is not None:
            table.rows(sample)
        self.table, self.sample = table, sample
        self.lang = resolve_lang(lang)
        self.digits = digits

    def __repr__(self) -> str:
        return f"ChainRuleDisplay(step={self.table.step}, n={self.table.n}, sample={self.sample}, lang={self.lang!r})"

    @classmethod
    def from_table(cls, table, *, sample=None, lang=None, ax=None, plot=True):
        display = cls(table, sample=sample, lang=lang)
        return display.plot(ax=ax) if plot else display

    def figsize(self):
        n_cols = len(_headers(self.table, 1))
        return (max(8.0, 0.92 * n_cols + 1.5), 1.3 + 0.3 * (self.table.n + 5))

    def plot(self, ax=None):
        """Draw on ``ax``; keeps ``ax_``, ``figure_``, ``table_`` (the matplotlib Table)."""
        from .base import axes_or_new
        from .fonts import font_family, use_language

        tb = self.table
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=self.figsize())
            ax.set_axis_off()
            heads = _headers(tb, 1)
            body = _cells(tb, self.digits)
            n_front = len(heads) - len(tb.param_names)
            summary = _summary(tb, self.lang, self.digits)
            rows = body + [[name] + [""] * (n_front - 1) + vals for name, vals in summary]
            self.table_ = ax.table(cellText=rows, colLabels=heads, loc="center", cellLoc="right")
            self.table_.auto_set_font_size(False)
            self.table_.set_fontsize(8.5)
            self.table_.scale(1.0, 1.45)
            n_body = len(body)
            for (r, c), cell in self.table_.get_celld().items():
                cell.set_edgecolor("0.8")
                if r == 0:
                    cell.set_facecolor("#eeeeee")
                    cell.set_text_props(ha="center")
                elif r - 1 == self.sample:
                    cell.set_facecolor("#fff4dc")
                elif r - 1 >= n_body:
                    cell.set_facecolor("#f7f7f7")
                if r >= 1 and c >= n_front - 3 and c < n_front:
                    cell.get_text().set_color(palette.color("gradient"))
                if r - 1 >= n_body and c >= n_front:
                    cell.get_text().set_color(palette.color("gradient") if r - 1 - n_body < len(summary) - 2 else "black")
                if r - 1 < n_body and c >= n_front:
                    cell.get_text().set_color(palette.color("gradient"))
            # the summary label spans the per-sample columns: draw it once, left-aligned
            for i in range(len(summary)):
                r = n_body + 1 + i
                first = self.table_[r, 0]
                first.get_text().set_ha("left")
                first._loc = "left"
                for c in range(1, n_front):
                    self.table_[r, c].visible_edges = "TB"
                first.visible_edges = "LTB"
                first.get_text().set_clip_on(False)
            title = label("chain_title", self.lang, step=tb.step, loss=name_label("loss", tb.loss_name, self.lang),
                          lr=fmt_number(tb.lr))
            ax.set_title(title, fontfamily=font_family(self.lang))
            notes = [label("chain_note_fig", self.lang)]
            if not tb.plain_sgd:
                notes.append(label("not_plain_sgd", self.lang))
            self.note_ = ax.text(0.5, 0.02, "\n".join(notes), transform=ax.transAxes, ha="center",
                                 va="top", fontsize=8, color="0.25", wrap=True)
        self.ax_, self.figure_ = ax, ax.figure
        return self


class GradCheckDisplay:
    """Bars of backpropagation's and the finite-difference gradient per parameter, and their
    relative error on a log scale."""

    def __init__(self, check, *, lang="en", max_params: int = 40):
        self.check = check
        self.lang = resolve_lang(lang)
        self.max_params = max_params

    def __repr__(self) -> str:
        return f"GradCheckDisplay({self.check!r}, lang={self.lang!r})"

    @classmethod
    def from_check(cls, check, *, lang=None, ax=None, plot=True):
        display = cls(check, lang=lang)
        return display.plot(ax=ax) if plot else display

    def plot(self, ax=None):
        """Draw on ``ax`` (the gradients; a twin axis holds the relative errors). Keeps ``ax_``,
        ``err_ax_``, ``figure_``, ``bars_`` (backprop, finite differences), ``errors_``."""
        from .base import axes_or_new
        from .fonts import font_family, use_language

        c = self.check
        idx = np.argsort(-np.abs(c.backprop))[: self.max_params] if len(c.backprop) > self.max_params \
            else np.arange(len(c.backprop))
        names = [c.param_names[i] for i in idx]
        pos = np.arange(len(idx))
        with use_language(self.lang):
            ax = axes_or_new(ax, figsize=(max(6.4, 0.55 * len(idx) + 3), 4.6))
            width = 0.38
            bp = ax.bar(pos - width / 2, c.backprop[idx], width, color=palette.color("gradient"),
                        label=label("backprop", self.lang))
            fd = ax.bar(pos + width / 2, c.finite_diff[idx], width, color=palette.color("finite_diff"),
                        label=label("finite_diff", self.lang, eps=f"{c.eps:g}"))
            self.bars_ = (bp, fd)
            if c.recorded is not None:
                ax.scatter(pos, c.recorded[idx], marker="_", s=300, color="black", zorder=3,
                           label=label("recorded" if c.layers_of is None else "gc_recorded_model", self.lang))
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_xticks(pos, names, rotation=0 if len(idx) <= 8 else 60)
            ax.set_ylabel(label("gradient", self.lang), fontfamily=font_family(self.lang))
            err_ax = ax.twinx()
            rel = c.rel_error[idx]
            zero = rel == 0
            # exact zeros have no place on a log axis: they sit on its floor with their own marker
            positive = rel[~zero]
            floor = min(1e-16, positive.min() / 10) if positive.size else 1e-16
            (self.errors_,) = err_ax.plot(pos[~zero], positive, "kD", markersize=5,
                                          label=label("rel_error", self.lang) if positive.size else "_nolegend_")
            self.zero_errors_ = None
            if zero.any():
                (self.zero_errors_,) = err_ax.plot(pos[zero], np.full(int(zero.sum()), floor), "kv",
                                                   markersize=7, markerfacecolor="white", clip_on=False,
                                                   zorder=4, label=label("explain_fix_gc_zero", self.lang))
            err_ax.set_yscale("log")
            err_ax.set_ylim(floor, max(1.0, positive.max() * 10) if positive.size else 1.0)
            err_ax.set_ylabel(label("rel_error", self.lang), fontfamily=font_family(self.lang))
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = err_ax.get_legend_handles_labels()
            self.legend_ = ax.legend(h1 + h2, l1 + l2, loc="best", fontsize="small")
            step = c.step if c.step is not None else "-"
            head = label("gradcheck_title", self.lang, step=step) if c.layers_of is None else \
                label("gc_title_batch", self.lang)
            if c.sampled:
                head += " " + label("gc_title_sampled", self.lang, checked=len(c.param_names), total=c.n_params)
            ax.set_title(head + "\n" + label("explain_fix_gc_max", self.lang, err=f"{c.max_rel_error:.2e}"),
                         fontfamily=font_family(self.lang), fontsize="medium")
        self.ax_, self.err_ax_, self.figure_ = ax, err_ax, ax.figure
        return self


MAX_GRADCHECK_ROWS = 60  # parameter rows printed for a model of the user's (all are in the layer table)


def gradcheck_text(check, *, lang: str | None = None, title: str | None = None) -> str:
    """The gradient check as aligned text: one line per parameter and, for any model
    (``gradcheck_module``), one line per layer, with what was sampled."""
    lang = resolve_lang(lang)
    step = check.step if check.step is not None else "-"
    head = [label(f"explain_fix_gc_{k}", lang) for k in ("param", "backprop", "finite", "recorded", "rel")]
    if check.layers_of is not None:  # a model of the user's: its own float32 backpropagation, no training
        head[3] = label("gc_float32", lang)
    rows = []
    shown = len(check.param_names) if check.layers_of is None else min(len(check.param_names), MAX_GRADCHECK_ROWS)
    for i, name in enumerate(check.param_names[:shown]):
        rec = "-" if check.recorded is None else f"{check.recorded[i]:.9g}"
        rows.append([name, f"{check.backprop[i]:.12g}", f"{check.finite_diff[i]:.12g}", rec,
                     f"{check.rel_error[i]:.2e}"])
    widths = [max(text_width(h), *(text_width(r[j]) for r in rows)) for j, h in enumerate(head)]
    out = [title or label("gradcheck_title", lang, step=step),
           "  ".join(rjust(h, w) for h, w in zip(head, widths))]
    out += ["  ".join(rjust(v, w) for v, w in zip(r, widths)) for r in rows]
    if shown < len(check.param_names):
        out.append(label("gc_rows_left_out", lang, shown=shown, n=len(check.param_names)))
    if check.layers_of is not None:
        out += _gradcheck_layers(check, lang)
    out.append(label("explain_fix_gc_max", lang, err=f"{check.max_rel_error:.2e}") + f" (eps = {check.eps:g})")
    return "\n".join(out) + "\n"


def _gradcheck_layers(check, lang) -> list[str]:
    """The per-layer table of a gradient check, and what was sampled."""
    head = [label(k, lang) for k in ("gc_layer", "gc_checked", "gc_max_grad")] + [label("explain_fix_gc_rel", lang)]
    rows = [[r["layer"], f"{r['checked']}/{r['total']}", f"{r['max_abs_grad']:.3e}", f"{r['max_rel_error']:.2e}"]
            for r in check.layers()]
    widths = [max(text_width(h), *(text_width(r[j]) for r in rows)) for j, h in enumerate(head)]
    lines = ["", "  ".join(ljust(h, w) if j == 0 else rjust(h, w) for j, (h, w) in enumerate(zip(head, widths)))]
    lines += ["  ".join(ljust(v, w) if j == 0 else rjust(v, w) for j, (v, w) in enumerate(zip(r, widths)))
              for r in rows]
    if check.sampled:
        lines.append(label("gc_sampled", lang, seed=check.seed, k=check.per_tensor,
                           checked=len(check.param_names), total=check.n_params))
    return lines


# -- Markdown for any model: the graph's numbers and the chain rule layer by layer ----------------

MD_GRAPH_TEXT = {
    "en": {
        "title": "### Backpropagation at step {step}: `{model}`",
        "intro": "Loss {loss} over a batch of $N = {n}$ samples: $L = {value}$; learning rate $\\eta = {lr}$.",
        "batch": "The numbers are the whole batch's; every $\\partial L/\\partial\\cdot$ is the batch loss's "
                 "(it carries the $\\frac{{1}}{{N}}$ of the mean).",
        "sample": "The numbers are sample {k}'s (data row {row}): its row of each per-sample value, and its "
                  "share of each parameter's gradient (the shares of all samples add up to the gradient).",
        "graph": "#### Forward values and gradients on the graph",
        "head": "| node | kind | value | $\\partial L/\\partial(\\text{node})$ |",
        "layers": "#### The chain rule, layer by layer",
        "notation": "With $a_0 = x$, $z_l = a_{{l-1}} W_l^\\top + b_l$, $a_l = f(z_l)$ and "
                    "$\\delta_l = \\partial L/\\partial z_l$, the gradient goes back from the loss to the input:",
        "from_loss": "from the loss",
        "autograd_only": "(no rule written for this layer: autograd's numbers)",
        "update": "#### The update",
        "update_head": "| parameter | recorded $\\partial L/\\partial\\theta$ | $-\\eta\\,\\partial L/\\partial\\theta$ "
                       "| recorded change |",
        "penalty": "The recorded gradient also holds the L1/L2 term of the run (l1 = {l1}, l2 = {l2}), which the "
                   "layer rules above leave out.",
        "not_plain": "The optimizer is not plain SGD, so the recorded change also holds momentum or weight decay "
                     "and differs from $-\\eta\\,\\nabla L$.",
        "big": "{shape}, ‖·‖ = {norm}",
    },
    "ja": {
        "title": "### ステップ {step} の誤差逆伝播: `{model}`",
        "intro": "損失関数 {loss}、バッチは $N = {n}$ 個のサンプル: $L = {value}$、学習率 $\\eta = {lr}$。",
        "batch": "数値はバッチ全体のものです。$\\partial L/\\partial\\cdot$ はすべてバッチの損失の微分で、"
                 "平均の $\\frac{{1}}{{N}}$ を含みます。",
        "sample": "数値はサンプル {k} (データの {row} 行目) のものです: サンプルごとの値はその行、"
                  "パラメータの勾配はこのサンプルの寄与分です (全サンプルの寄与の和が勾配)。",
        "graph": "#### 計算グラフ上の順伝播の値と勾配",
        "head": "| ノード | 種類 | 値 | $\\partial L/\\partial(\\text{ノード})$ |",
        "layers": "#### 層ごとの連鎖律",
        "notation": "$a_0 = x$、$z_l = a_{{l-1}} W_l^\\top + b_l$、$a_l = f(z_l)$、"
                    "$\\delta_l = \\partial L/\\partial z_l$ とすると、勾配は損失から入力へ向かって次のように伝わります:",
        "from_loss": "損失から",
        "autograd_only": "(この層の式は用意していないため、autograd の数値を示します)",
        "update": "#### 更新",
        "update_head": "| パラメータ | 記録された $\\partial L/\\partial\\theta$ | $-\\eta\\,\\partial L/\\partial\\theta$ "
                       "| 記録された変化量 |",
        "penalty": "記録された勾配には、この学習の L1/L2 項 (l1 = {l1}, l2 = {l2}) の勾配も含まれます "
                   "(上の層ごとの式には含まれません)。",
        "not_plain": "最適化手法が素のSGDではないため、記録された変化量にはモーメンタムや重み減衰が含まれ、"
                     "$-\\eta\\,\\nabla L$ とは一致しません。",
        "big": "{shape}, ‖·‖ = {norm}",
    },
}

_KIND_JA = {"input": "入力", "target": "正解", "param": "パラメータ", "const": "定数", "op": "演算", "layer": "層"}


def _num(v, digits: int = 4) -> str:
    """A number for LaTeX: 1.2e-05 -> 1.2\\times10^{-5}."""
    v = float(v)
    if v == 0:
        return "0"
    text = f"{v:.{digits}g}"
    if "e" in text:
        mant, exp = text.split("e")
        return f"{mant}\\times10^{{{int(exp)}}}"
    return text


def _md_cell(a, lang: str, digits: int = 4, max_items: int = 16) -> str:
    """A value for a Markdown table cell (no '|'): the numbers when few, else shape and norm."""
    if a is None:
        return "-"
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return f"{float(a.reshape(-1)[0]):.{digits}g}"
    if a.size <= max_items:
        if a.ndim == 2 and min(a.shape) > 1:
            return "[" + "; ".join(", ".join(f"{v:.{digits}g}" for v in r) for r in a) + "]"
        return "[" + ", ".join(f"{v:.{digits}g}" for v in a.reshape(-1)) + "]"
    return MD_GRAPH_TEXT[lang]["big"].format(shape="×".join(map(str, a.shape)),
                                             norm=f"{np.linalg.norm(a):.{digits}g}")


def _tex(a, digits: int = 4, max_items: int = 16) -> str | None:
    """A value in LaTeX: a number or a small matrix (vectors as rows); None when too big to print."""
    a = np.asarray(a, dtype=float)
    if a.size == 1:
        return _num(a.reshape(-1)[0], digits)
    if a.size <= max_items:
        rows = a if a.ndim == 2 else a.reshape(1, -1)
        return ("\\begin{bmatrix}" + " \\\\ ".join(" & ".join(_num(v, digits) for v in r) for r in rows)
                + "\\end{bmatrix}")
    return None


def _equation(lhs: str, rule: str, numeric, result) -> list[str]:
    """``lhs = rule = numbers = result`` as display math. ``numeric`` is a function of the
    operands' LaTeX (used only when every operand is small enough to print); a result too big
    to print is given by its shape and norm."""
    parts = [lhs] + ([rule] if rule else [])
    operands, fill = numeric
    texts = [_tex(o) for o in operands]
    if operands and all(t is not None for t in texts):
        parts.append(fill(*texts))
    res = _tex(result)
    line = " = ".join(parts)
    if res is not None:
        line += f" = {res}"
    else:
        r = np.asarray(result, dtype=float)
        shape = "\\times".join(map(str, r.shape))
        line += f",\\qquad \\lVert {lhs} \\rVert = {_num(np.linalg.norm(r))}\\ \\ ({shape})"
    return ["$$", line, "$$"]


def _layer_equations(layers, sample) -> list[str]:
    """LaTeX for each layer's backward rule with its numbers (``layers`` from the loss back).

    Linear layers are numbered 1..L from the input (``W_l``, ``b_l``, ``z_l``, ``delta_l``); the
    activation after layer l gives ``a_l``. With one sample, symbols carry its index k.
    """
    from ..analysis.chain_rule import ACTIVATION_DERIVATIVES

    k = "" if sample is None else ",k"
    out, l = [], sum(1 for r in layers if r.kind == "linear")
    for r in layers:
        if r.kind == "linear":
            W, b, d = f"W_{{{l}}}", f"b_{{{l}}}", f"\\delta_{{{l}{k}}}"
            a_prev = ("x" if l == 1 else f"a_{{{l - 1}}}") if sample is None else \
                ("x_{k}" if l == 1 else f"a_{{{l - 1},k}}")
            weight = next(n for n in r.params if n.endswith("weight"))
            bias = next((n for n in r.params if n.endswith("bias")), None)
            names = f"`{weight}`" + (f", `{bias}`" if bias else "")
            out += [f"**{r.name}**: $z_{{{l}}} = {'x' if l == 1 else f'a_{{{l - 1}}}'}\\,{W}^\\top"
                    + (f" + {b}$" if bias else "$") + f" ({names})", ""]
            out += _equation(f"\\frac{{\\partial L}}{{\\partial {W}}}", f"{d}^\\top {a_prev}",
                             ((r.d_out, r.a_in), lambda dt, at: f"{dt}^\\top {at}"), r.params[weight][1])
            if bias:
                out += _equation(f"\\frac{{\\partial L}}{{\\partial {b}}}",
                                 f"\\sum_k \\delta_{{{l},k}}" if sample is None else d,
                                 ((), None), r.params[bias][1])
            out += _equation(f"\\frac{{\\partial L}}{{\\partial {a_prev}}}", f"{d}\\,{W}",
                             ((r.d_out, r.params[weight][0]), lambda dt, wt: f"{dt}\\,{wt}"), r.d_in)
            out.append("")
            l -= 1
        elif r.kind == "activation":
            template = ACTIVATION_DERIVATIVES[r.op][0]
            rule = template.format(a=f"a_{{{l}{k}}}", z=f"z_{{{l}{k}}}")
            fname = {"Tanh": "\\tanh", "Sigmoid": "\\sigma", "ReLU": "\\mathrm{ReLU}"}.get(
                r.op, f"\\mathrm{{{r.op}}}")
            out += [f"**{r.name}**: $a_{{{l}}} = {fname}(z_{{{l}}})$, "
                    f"$f'(z) = {template.format(a='a', z='z')}$", ""]
            out += _equation(f"\\delta_{{{l}{k}}}",
                             f"\\frac{{\\partial L}}{{\\partial a_{{{l}{k}}}}} \\odot \\left({rule}\\right)",
                             ((r.d_out, r.local), lambda da, fp: f"{da} \\odot {fp}"), r.d_in)
            out.append("")
        else:
            out += [f"**{r.name}** {{autograd}}", ""]
            out += _equation("\\frac{\\partial L}{\\partial\\,\\mathrm{out}}", None, ((), None),
                             r.d_out)
            if r.d_in is not None:
                out += _equation("\\frac{\\partial L}{\\partial\\,\\mathrm{in}}", None, ((), None), r.d_in)
            for name, (_, g, _) in r.params.items():
                out += _equation(f"\\frac{{\\partial L}}{{\\partial\\,\\texttt{{{name}}}}}", None, ((), None), g)
            out.append("")
    return out


def graph_markdown(history, step: int, trace, layers, *, sample: int | None = None, lang: str | None = None,
                   digits: int = 4) -> str:
    """Markdown for one step of any model: the graph's values and gradients as a table, the
    backward rule of each layer with its numbers (``layers`` from ``layer_backward``), and the
    update of every parameter against the recorded change."""
    from ..analysis.chain_rule import flat_slice, is_plain_sgd
    from ..analysis.graph_trace import step_lr

    lang = resolve_lang(lang)
    T = MD_GRAPH_TEXT[lang]
    config = history.config
    lr = step_lr(history, step)
    out = [T["title"].format(step=step, model=config.get("model", "model")), "",
           T["intro"].format(loss=str(config.get("loss", "bce")).upper(), n=trace.n_samples,
                             value=_num(trace.loss, 6), lr=_num(lr)), ""]
    if sample is None:
        out.append(T["batch"].format())
    else:
        row = trace.sample_indices[sample] if trace.sample_indices is not None else sample
        out.append(T["sample"].format(k=sample, row=int(row)))
    out += ["", T["graph"], "", T["head"], "|---|---|---:|---:|"]
    for node in trace.nodes:
        kind = _KIND_JA.get(node.kind, node.kind) if lang == "ja" else node.kind
        value, grad = trace.numbers(node, sample)
        out.append(f"| `{node.name}` | {kind} | {_md_cell(value, lang, digits)} | {_md_cell(grad, lang, digits)} |")
        for pname in node.layer_params:
            pv, pg = trace.layer_param_numbers(node, pname, sample)
            out.append(f"| `{node.name}` · `{pname}` | {_KIND_JA['param'] if lang == 'ja' else 'param'} "
                       f"| {_md_cell(pv, lang, digits)} | {_md_cell(pg, lang, digits)} |")
    out += ["", T["layers"], "", T["notation"].format(), ""]
    out += [line.replace("{autograd}", T["autograd_only"]) for line in _layer_equations(layers, sample)]
    out += [T["update"], "", T["update_head"], "|---|---:|---:|---:|"]
    names = list(history.param_names)
    grads = history.grads[step].astype(np.float64)
    change = history.params[step + 1].astype(np.float64) - history.params[step].astype(np.float64)
    n_linear = 0
    for layer in layers[::-1]:
        n_linear += layer.kind == "linear"
        for pname, (value, _, _) in layer.params.items():
            idx = flat_slice(names, pname)
            shape = np.shape(value)
            g, c = grads[idx].reshape(shape), change[idx].reshape(shape)
            symbol = ""
            if layer.kind == "linear":
                symbol = f"$W_{{{n_linear}}}$ " if pname.endswith("weight") else f"$b_{{{n_linear}}}$ "
            out.append(f"| {symbol}`{pname}` | {_md_cell(g, lang, digits)} | {_md_cell(-lr * g, lang, digits)} "
                       f"| {_md_cell(c, lang, digits)} |")
    l1, l2 = float(config.get("l1") or 0), float(config.get("l2") or 0)
    if l1 or l2:
        out += ["", T["penalty"].format(l1=f"{l1:g}", l2=f"{l2:g}")]
    if not is_plain_sgd(config):
        out += ["", T["not_plain"]]
    return "\n".join(out) + "\n"
