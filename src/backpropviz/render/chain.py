"""The chain-rule table and the gradient check: as terminal text, as Markdown, as figures.

``chain_text`` and ``chain_markdown`` need no matplotlib; ``ChainRuleDisplay`` and
``GradCheckDisplay`` draw the same numbers as a table and as bars.
"""

from __future__ import annotations

import numpy as np

from ..i18n import resolve_lang
from .graph import GRAD_COLOR, fmt_number, label

def text_width(text: str) -> int:
    """Columns ``text`` takes in a terminal: East Asian wide characters take two."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - text_width(text))


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

    out = [label("chain_title", lang, step=table.step, loss=table.loss_name.upper(), lr=fmt_number(table.lr)),
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
                    cell.get_text().set_color(GRAD_COLOR)
                if r - 1 >= n_body and c >= n_front:
                    cell.get_text().set_color(GRAD_COLOR if r - 1 - n_body < len(summary) - 2 else "black")
                if r - 1 < n_body and c >= n_front:
                    cell.get_text().set_color(GRAD_COLOR)
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
            title = label("chain_title", self.lang, step=tb.step, loss=tb.loss_name.upper(),
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
            bp = ax.bar(pos - width / 2, c.backprop[idx], width, color=GRAD_COLOR,
                        label=label("backprop", self.lang))
            fd = ax.bar(pos + width / 2, c.finite_diff[idx], width, color="#4c78a8",
                        label=label("finite_diff", self.lang, eps=f"{c.eps:g}"))
            self.bars_ = (bp, fd)
            if c.recorded is not None:
                ax.scatter(pos, c.recorded[idx], marker="_", s=300, color="black", zorder=3,
                           label=label("recorded", self.lang))
            ax.axhline(0, color="0.5", lw=0.8)
            ax.set_xticks(pos, names, rotation=0 if len(idx) <= 8 else 60)
            ax.set_ylabel(label("gradient", self.lang), fontfamily=font_family(self.lang))
            err_ax = ax.twinx()
            rel = np.maximum(c.rel_error[idx], 1e-17)
            (self.errors_,) = err_ax.plot(pos, rel, "kD", markersize=5, label=label("rel_error", self.lang))
            err_ax.set_yscale("log")
            err_ax.set_ylim(min(1e-16, rel.min() / 10), max(1.0, rel.max() * 10))
            err_ax.set_ylabel(label("rel_error", self.lang), fontfamily=font_family(self.lang))
            h1, l1 = ax.get_legend_handles_labels()
            h2, l2 = err_ax.get_legend_handles_labels()
            self.legend_ = ax.legend(h1 + h2, l1 + l2, loc="best", fontsize="small")
            step = c.step if c.step is not None else "-"
            ax.set_title(label("gradcheck_title", self.lang, step=step) +
                         f"\nmax {label('rel_error', self.lang)} = {c.max_rel_error:.2e}",
                         fontfamily=font_family(self.lang), fontsize="medium")
        self.ax_, self.err_ax_, self.figure_ = ax, err_ax, ax.figure
        return self


def gradcheck_text(check, *, lang: str | None = None) -> str:
    """The gradient check as aligned text: one line per parameter."""
    lang = resolve_lang(lang)
    step = check.step if check.step is not None else "-"
    head = ["param", "backprop", "finite diff", "recorded", "rel. error"]
    rows = []
    for i, name in enumerate(check.param_names):
        rec = "-" if check.recorded is None else f"{check.recorded[i]:.9g}"
        rows.append([name, f"{check.backprop[i]:.12g}", f"{check.finite_diff[i]:.12g}", rec,
                     f"{check.rel_error[i]:.2e}"])
    widths = [max(len(h), *(len(r[j]) for r in rows)) for j, h in enumerate(head)]
    out = [label("gradcheck_title", lang, step=step),
           "  ".join(h.rjust(w) for h, w in zip(head, widths))]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    out.append(f"max {label('rel_error', lang)} = {check.max_rel_error:.2e} (eps = {check.eps:g})")
    return "\n".join(out) + "\n"
