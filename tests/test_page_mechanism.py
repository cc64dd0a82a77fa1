"""The page's mechanism views in headless Chromium: the computation graph, the chain-rule table, the
network diagram and the update table show the recorded step's numbers. Each is read back from the
DOM (the data attributes the views put on their elements, and the texts) and compared with an
independent computation: a fresh autograd trace of the step (analysis.graph_trace), the closed-form
chain rule in float64 (analysis.chain_rule), the history's own arrays."""

from __future__ import annotations

import re

import numpy as np
import pytest

from backpropviz.analysis.chain_rule import chain_rule_table
from backpropviz.analysis.graph_trace import trace_history_step
from backpropviz.config import RunConfig
from backpropviz.train import train
from backpropviz.web.pack import page_data
from backpropviz.web.page import write_page
from pagehelpers import GROWING, MOONS, PageSession  # noqa: F401  (the browser fixtures live in conftest.py)

SMALL_MOONS = {**MOONS, "epochs": 24}  # 120 steps of mini-batches of 32 (the last of each epoch 22)
F32 = dict(rtol=2e-6, atol=1e-7)      # what survives a float32 round trip


def _page(tmp_path_factory, name, config, *, embed_font=False, **pack):
    """A page of a fresh run; a coarse loss surface and (but for the article) no embedded font, which
    these views do not depend on (the font costs seconds per page)."""
    h = train(RunConfig(**config))
    path = tmp_path_factory.mktemp(name) / f"{name}.html"
    write_page(page_data(h, surface_resolution=11, **pack), path, embed_font=embed_font)
    return h, path


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    return _page(tmp_path_factory, "article", {}, embed_font=True)


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    # 40 of the 120 steps traced: the graph view must say when it shows the nearest traced one
    return _page(tmp_path_factory, "moons", SMALL_MOONS, trace_steps=40)


@pytest.fixture(scope="module")
def penalised(tmp_path_factory):
    # a perceptron on mini-batches of 2 with an L2 term and the squared error, 10 of its 100 steps traced
    return _page(tmp_path_factory, "penalised", dict(batch_size=2, epochs=50, l2=0.01, loss="mse"), trace_steps=10)


@pytest.fixture(scope="module")
def wide(tmp_path_factory):
    # a perceptron on 200 rows: one batch far over the table's 16 rows
    return _page(tmp_path_factory, "wide", dict(data="moons", model="perceptron", epochs=20))


@pytest.fixture(scope="module")
def tab(browser):  # noqa: F811
    """``tab(path)``: one browser tab per page for the whole module (opening one costs seconds),
    tall enough that no card hides under the sticky controls; back in English, errors cleared."""
    tabs = {}

    def opener(path):
        if path not in tabs:
            tabs[path] = PageSession(browser, path, viewport=(1400, 2600))
        s = tabs[path]
        s.js("window.backpropviz.lang('en')")
        s.errors.clear()
        return s

    yield opener
    for s in tabs.values():
        s.close()


def floats(text):
    return np.array([float(v) for v in text.split(",")]) if text else np.array([])


def assert_shows(text, value):
    """The first number of a displayed text ("−" as minus) is ``value`` rounded to the digits shown."""
    m = re.search(r"-?(\d+)(?:\.(\d+))?(?:e(-?\d+))?", text.replace("\u2212", "-"))
    assert m, text
    shown = float(m.group(0))
    digits = len((m.group(1) + (m.group(2) or "")).lstrip("0")) or 1
    if value == 0:
        assert shown == 0, text
        return
    half_unit = 0.5 * 10 ** (np.floor(np.log10(abs(value))) - digits + 1)
    assert abs(shown - value) <= 1.01 * half_unit + 1e-7 * abs(value), (text, value)


def go(s, k):
    assert s.js(f"window.backpropviz.go({k})") == k


# -- the computation graph ----------------------------------------------------------------------------

READ_GRAPH = """() => { const svg = document.querySelector('[data-view=graph] svg.bpv-graph-svg');
  return { step: Number(svg.dataset.step),
    nearest: document.querySelector('[data-view=graph] .bpv-graph-nearest').textContent,
    nodes: [...svg.querySelectorAll('g.bpv-graph-node')].map(g => ({ id: g.dataset.node, name: g.dataset.name,
      kind: g.dataset.kind, summary: g.dataset.summary === '1', shape: g.dataset.shape, value: g.dataset.value || '',
      grad: g.dataset.grad === undefined ? null : g.dataset.grad,
      valueText: [...g.querySelectorAll('.bpv-graph-value')].map(t => t.textContent).join(' '),
      gradText: [...g.querySelectorAll(".bpv-graph-grad")].map(t => t.textContent).join(" ").trim() })) }; }"""


def expected_numbers(a, summary):
    flat = np.asarray(a, dtype=np.float64).ravel()
    if summary:
        return np.array([flat.mean(), flat.min(), flat.max(), np.linalg.norm(flat)])
    return flat


def assert_graph_is_the_trace(s, h, step):
    shown = s.js(READ_GRAPH)
    assert shown["step"] == step
    trace = trace_history_step(h, step, per_sample=False)
    assert [n["id"] for n in shown["nodes"]] == [n.id for n in trace.nodes]
    for node, ref in zip(shown["nodes"], trace.nodes):
        assert (node["name"], node["kind"]) == (ref.name, ref.kind)
        rows = ref.value.shape[0] if ref.value.ndim > 1 else 1
        assert node["shape"] == f"{rows},{ref.value.size // rows}", node["name"]
        value = expected_numbers(ref.value, node["summary"])
        np.testing.assert_allclose(floats(node["value"]), value, **F32, err_msg=f"value of {ref.name} at {step}")
        # the box's text starts with the first number (the mean of a summary), rounded
        assert_shows(node["valueText"], value[0])
        if ref.grad is None:
            assert node["grad"] is None and node["gradText"] in ("(no gradient)", "(勾配なし)")
        else:
            grad = expected_numbers(ref.grad, node["summary"])
            np.testing.assert_allclose(floats(node["grad"]), grad, **F32, err_msg=f"gradient of {ref.name} at {step}")
            assert_shows(node["gradText"], grad[0])
    return shown


def test_graph_shows_the_autograd_trace_of_the_step(tab, article):
    h, path = article
    s = tab(path)
    values = []
    for k in (0, 10, h.n_steps - 1):
        go(s, k)
        shown = assert_graph_is_the_trace(s, h, k)
        assert shown["nearest"] == ""  # every step of the article is traced
        values.append([n["value"] for n in shown["nodes"]])
    assert values[0] != values[1] != values[2]  # moving the step changes the boxes
    assert s.errors == []


def test_graph_of_a_mini_batch_run_says_when_it_shows_the_nearest_traced_step(tab, moons):
    h, path = moons
    s = tab(path)
    traced = np.unique(np.round(np.linspace(0, h.n_steps - 1, 40)).astype(int))
    untraced = next(k for k in range(h.n_steps) if k not in traced and k - 1 in traced)
    for k in (int(traced[7]), h.n_steps - 1):
        go(s, k)
        assert_graph_is_the_trace(s, h, k)
        assert s.js(READ_GRAPH)["nearest"] == ""
    go(s, untraced)
    nearest = int(traced[np.argmin(np.abs(traced - untraced))])
    shown = assert_graph_is_the_trace(s, h, nearest)
    assert f"step {nearest} " in shown["nearest"] and f"{len(traced)} of {h.n_steps} steps traced" in shown["nearest"]
    assert any(n["summary"] for n in shown["nodes"])  # the collapsed layers: mean, min, max, norm
    assert s.errors == []


# -- the chain-rule table -------------------------------------------------------------------------------

READ_CHAIN = """() => { const card = document.querySelector('[data-view=chain]');
  const rows = {};
  for (const tr of card.querySelectorAll('tbody tr')) {
    if (tr.style.display === 'none') continue;
    const cells = Object.fromEntries([...tr.querySelectorAll('td[data-value]')].map(td => [td.dataset.col, Number(td.dataset.value)]));
    (rows[tr.dataset.row] = rows[tr.dataset.row] || []).push(cells);
  }
  return { rows, head: card.querySelector('.bpv-chain-head').textContent,
    left: card.querySelector('.bpv-chain-left').textContent,
    check: card.querySelector('.bpv-chain-check').textContent,
    diff: Number(card.querySelector('.bpv-chain-check').dataset.diff) }; }"""


def assert_chain_is_the_closed_form(s, h, k, *, shown_rows=None):
    shown = s.js(READ_CHAIN)
    ref = chain_rule_table(h, k)
    samples = shown["rows"]["sample"]
    n = len(ref.z) if shown_rows is None else shown_rows
    assert len(samples) == n
    columns = {f"x{i + 1}": ref.x[:, i] for i in range(ref.x.shape[1])}
    columns.update(z=ref.z, y_hat=ref.y_hat, y=ref.target, loss=ref.sample_loss, dL_dyhat=ref.dL_dyhat,
                   dyhat_dz=ref.dyhat_dz, dL_dz=ref.dL_dz)
    columns.update({f"dL_d{name}": ref.contrib[:, j] for j, name in enumerate(ref.param_names)})
    assert [r["sample"] for r in samples] == ref.sample_indices[:n].tolist()
    for col, expected in columns.items():
        got = np.array([r[col] for r in samples])
        scale = max(1e-3, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected[:n], rtol=1e-5, atol=1e-6 * scale, err_msg=f"{col} at step {k}")
    names = ref.param_names
    row = lambda kind: np.array([shown["rows"][kind][0][f"dL_d{p}"] for p in names])  # noqa: E731
    # the sum row adds every sample's share (those left out of the table too) ...
    np.testing.assert_allclose(row("sum"), ref.contrib.sum(axis=0), rtol=1e-5, atol=1e-7)
    # ... and with the L1/L2 term it is the gradient backprop recorded
    total = row("sum") + (row("penalty") if "penalty" in shown["rows"] else 0)
    np.testing.assert_allclose(total, h.grads[k], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(row("recorded"), h.grads[k], **F32)
    np.testing.assert_allclose(row("update"), ref.update, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(row("change"), h.params[k + 1].astype(np.float64) - h.params[k], **F32)
    assert shown["diff"] < 1e-6 and "add up" in shown["check"]
    return shown, ref


def test_chain_table_is_the_closed_form_chain_rule_and_adds_up_to_the_gradient(tab, article):
    h, path = article
    s = tab(path)
    seen = []
    for k in (0, 10, h.n_steps - 1):
        go(s, k)
        shown, ref = assert_chain_is_the_closed_form(s, h, k)
        assert "penalty" not in shown["rows"] and shown["left"] == ""
        assert "read from the autograd trace" in shown["head"]
        seen.append(shown["rows"]["sum"])
    assert seen[0] != seen[1] != seen[2]
    assert s.errors == []


def test_chain_table_of_untraced_mini_batch_steps_with_an_l2_term_and_mse(tab, penalised):
    h, path = penalised
    s = tab(path)
    for k in (0, 5, h.n_steps - 1):  # 5: not traced; the page computes it from params[5]
        go(s, k)
        shown, ref = assert_chain_is_the_closed_form(s, h, k)
        np.testing.assert_allclose([shown["rows"]["penalty"][0][f"dL_d{p}"] for p in ref.param_names],
                                   ref.penalty_grad, rtol=1e-5, atol=1e-9)
        assert ("not traced" in shown["head"]) == (k == 5)
        assert [r["sample"] for r in shown["rows"]["sample"]] == h.batches[k][h.batches[k] >= 0].tolist()
    assert s.errors == []


def test_chain_table_shows_16_rows_of_a_big_batch_and_sums_them_all(tab, wide):
    h, path = wide
    s = tab(path)
    go(s, 3)
    shown, ref = assert_chain_is_the_closed_form(s, h, 3, shown_rows=16)
    assert len(ref.z) == 200 and "200" in shown["left"] and "184" in shown["left"]
    assert "only summaries" in shown["head"]  # the trace of 200 samples holds mean, min, max, norm
    assert s.errors == []


# -- the update table ------------------------------------------------------------------------------------

READ_UPDATE = """() => [...document.querySelectorAll('[data-view=update] tbody tr')].map(tr => ({
  j: Number(tr.dataset.param), name: tr.dataset.name,
  ...Object.fromEntries([...tr.querySelectorAll('td[data-value]')].map(td => [td.dataset.col, Number(td.dataset.value)])) }))"""


def assert_update_rows(rows, h, k):
    lr = float(h.config["lr"])
    for r in rows:
        j = r["j"]
        assert r["name"] == h.param_names[j]
        assert r["before"] == pytest.approx(float(h.params[k, j]), rel=1e-7, abs=1e-12)
        assert r["grad"] == pytest.approx(float(h.grads[k, j]), rel=1e-7, abs=1e-12)
        assert r["after"] == pytest.approx(float(h.params[k + 1, j]), rel=1e-7, abs=1e-12)
        assert r["sgd"] == pytest.approx(-lr * float(h.grads[k, j]), rel=1e-6, abs=1e-12)
        assert r["change"] == pytest.approx(float(h.params[k + 1, j]) - float(h.params[k, j]), rel=1e-6, abs=1e-12)


def test_update_table_is_the_recorded_before_gradient_and_after(tab, article, moons):
    h, path = article
    s = tab(path)
    for k in (0, 10, h.n_steps - 1):
        go(s, k)
        rows = s.js(READ_UPDATE)
        assert [r["j"] for r in rows] == [0, 1, 2]
        assert_update_rows(rows, h, k)
    assert s.js("document.querySelector('[data-view=update] .bpv-update-optimiser').dataset.optimiser") == "upd_opt_sgd"

    h, path = moons
    s = tab(path)
    first = None
    for k in (0, 77, h.n_steps - 1):
        go(s, k)
        rows = s.js(READ_UPDATE)
        change = np.abs(h.params[k + 1].astype(np.float64) - h.params[k])
        assert len(rows) == 12
        assert sorted(r["j"] for r in rows) == sorted(np.argsort(-change, kind="stable")[:12].tolist())
        assert_update_rows(rows, h, k)
        first = first or rows
    assert rows != first
    assert s.js("document.querySelector('[data-view=update] .bpv-update-optimiser').dataset.optimiser") == "upd_opt_adam"
    s.page.select_option("[data-view=update] select", "all")
    rows = s.js(READ_UPDATE)
    assert [r["j"] for r in rows] == list(range(105))
    assert_update_rows(rows, h, h.n_steps - 1)
    s.page.select_option("[data-view=update] select", "layer1")  # the second linear layer: 8 x 8 + 8
    rows = s.js(READ_UPDATE)
    assert [r["j"] for r in rows] == list(range(24, 96))
    go(s, 5)
    assert_update_rows(s.js(READ_UPDATE), h, 5)
    assert s.errors == []


# -- the network diagram ---------------------------------------------------------------------------------

READ_NETWORK = """() => { const svg = document.querySelector('[data-view=network] svg');
  const read = (sel) => [...svg.querySelectorAll(sel)].map(e => ({ j: Number(e.dataset.param), value: Number(e.dataset.value),
    stroke: e.getAttribute('stroke'), width: Number(e.getAttribute('stroke-width')), fill: e.getAttribute('fill') }));
  return { edges: read('line.bpv-network-edge'), units: read('circle.bpv-network-unit') }; }"""


@pytest.mark.parametrize("which", ["article", "moons"])
def test_network_edges_and_units_carry_the_steps_weights_and_biases(tab, article, moons, which):
    h, path = article if which == "article" else moons
    from backpropviz.analysis.views import layers

    weight_cols = sorted(int(j) for L in layers(h.param_names) for j in np.ravel(L.weight))
    bias_cols = sorted(int(j) for L in layers(h.param_names) if L.bias is not None for j in np.ravel(L.bias))
    s = tab(path)
    before = None
    for k in (0, 10, h.n_steps - 1):
        go(s, k)
        shown = s.js(READ_NETWORK)
        assert sorted(e["j"] for e in shown["edges"]) == weight_cols
        assert sorted(u["j"] for u in shown["units"]) == bias_cols
        for e in shown["edges"]:
            w = float(h.params[k, e["j"]])
            assert e["value"] == pytest.approx(w, rel=1e-7, abs=1e-12)
            assert e["stroke"] == ("rgb(33,102,172)" if w > 0 else "rgb(230,97,1)" if w < 0 else "#999")
        for u in shown["units"]:
            assert u["value"] == pytest.approx(float(h.params[k, u["j"]]), rel=1e-7, abs=1e-12)
        # width grows with |w|
        by_size = sorted(shown["edges"], key=lambda e: abs(e["value"]))
        assert [e["width"] for e in by_size] == sorted(e["width"] for e in by_size)
        if before is not None:
            assert [e["value"] for e in shown["edges"]] != before
        before = [e["value"] for e in shown["edges"]]
    assert s.errors == []


# -- hovering --------------------------------------------------------------------------------------------

def tip(s, selector):
    s.page.hover(selector)
    return s.js("document.querySelector('.bpv-tip').textContent")


def test_hover_shows_every_number_at_full_precision(tab, article):
    h, path = article
    s = tab(path)
    k = 10
    go(s, k)
    trace = trace_history_step(h, k, per_sample=False)
    sigmoid = next(n for n in trace.nodes if n.op == "sigmoid")
    text = tip(s, f"[data-view=graph] g[data-node={sigmoid.id}]")
    assert "4×1" in text
    for v in list(sigmoid.value.ravel()) + list(sigmoid.grad.ravel()):  # every row, 7 significant digits
        assert f"{float(v):.7g}".replace("-", "−") in text, (v, text)
    cell = "[data-view=chain] tr[data-row=sample][data-sample='3'] td[data-col=dL_dz]"
    value = s.js(f"document.querySelector(\"{cell}\").dataset.value")
    assert tip(s, cell) == f"∂L/∂z = {value}"
    assert float(value) == pytest.approx(chain_rule_table(h, k).dL_dz[3], rel=1e-5)
    assert tip(s, "[data-view=chain] th[data-col=dL_dw1]") == "∂L/∂w1 = x1 · ∂L/∂z"
    text = tip(s, "[data-view=network] line.bpv-network-edge[data-param='1']")  # w2's line, at its middle
    assert text.startswith("w2 = ") and f"{float(h.params[k, 1]):.6g}".replace("-", "−") in text
    text = tip(s, "[data-view=update] tbody tr[data-name=b] td[data-col=after]")
    assert text.startswith("b · after = ") and float(text.split("= ")[1]) == pytest.approx(float(h.params[k + 1, 2]), rel=1e-7)
    assert s.errors == []


GROW = """async ([first, last]) => {""" + GROWING + """
  const rec = new Recording(page, P);  // empty, then filled as a live server would send steps
  const send = grow(rec);
  send(0, first);
  const el = document.createElement("div");
  document.body.append(el);
  const api = mount(el, rec, { hash: false });
  api.views(["network", "update"]);
  const key = () => el.querySelector(".bpv-network-legend").textContent;
  api.go(first - 1);
  const before = key();
  send(first, last);
  api.go(last - 1);
  return { before, after: key(),
    edges: [...el.querySelectorAll("line.bpv-network-edge")].map(e => [Number(e.dataset.param), Number(e.dataset.value)]),
    after_row: [...el.querySelectorAll("[data-view=update] tbody tr")].map(tr =>
      Number(tr.querySelector("td[data-col=after]").dataset.value)) };
}"""


def test_network_scale_follows_a_recording_that_grows(open_page, article):
    h, path = article
    s = open_page(path)
    r = s.page.evaluate(GROW, [5, 600])
    widest = lambda rows: float(np.abs(h.params[:rows, :2]).max())  # noqa: E731  (w1, w2)
    assert f"= {widest(6):.3g} " in r["before"] and f"= {widest(601):.3g} " in r["after"], (r["before"], r["after"])
    assert widest(601) > 2 * widest(6)
    for j, v in r["edges"]:
        assert v == pytest.approx(float(h.params[599, j]), rel=1e-7)
    np.testing.assert_allclose(r["after_row"], h.params[600], rtol=1e-7)
    assert s.errors == []


def test_the_views_speak_japanese_after_switching(tab, article):
    from backpropviz.i18n import CATALOGUE

    h, path = article
    s = tab(path)
    s.js("window.backpropviz.lang('ja')")
    go(s, 10)
    mine = {k: v for k, v in CATALOGUE.items() if k.startswith(("page_graph_", "page_chain_", "page_net_", "page_upd_"))}
    text = s.js("""[...document.querySelectorAll('[data-view=graph],[data-view=chain],[data-view=network],[data-view=update]')]
                   .map(c => c.innerText).join('\\n')""")
    for ja in ("順伝播の値", "記録された勾配", "全 4 サンプルの和", "正の重み", "更新前", "素の SGD"):
        assert ja in text, ja
    # no English sentence of these views is left: the words of their English texts do not appear
    english = {w for v in mine.values() for w in re.findall(r"[A-Za-z]{4,}", re.sub(r"\{\w+\}", "", v["en"]))}
    # names, not prose: optimisers, autograd, dtypes and the graph's node names (mean, sigmoid: torch ops)
    english -= {"autograd", "Adam", "AdamW", "RMSprop", "Adagrad", "float32", "sigmoid", "mean"}
    left = sorted(w for w in english if re.search(rf"\b{w}\b", text))
    assert left == [], left
    assert s.errors == []


# A recording that grows (as a live server sends it) and whose per-epoch metrics come after its
# loss chart was made: the chart's curves, before and after.
GROW_EPOCHS = """async ([first, last]) => {""" + GROWING + """
  const epochs = page.epochs;
  const rec = new Recording({ ...page, epochs: {} }, P);
  const send = grow(rec);
  send(0, first);
  const el = document.createElement("div");
  document.body.append(el);
  const api = mount(el, rec, { hash: false });
  api.views(["loss"]);
  const curves = () => [...el.querySelectorAll("[data-view=loss] .u-legend .u-series .u-label")].map((s) => s.textContent);
  api.go(first - 1);
  const before = curves();
  Object.assign(rec.meta.epochs, epochs);  // (as web/live/liveviews.js puts them in)
  send(first, last);
  api.go(last - 1);
  await new Promise((r) => setTimeout(r, 300));  // (a chart redraws for growth at most every 4x its redraw time)
  const after = curves();
  api.lang("ja"); api.lang("en");  // every view made again, for the recording as it is now
  return { before, after, made: curves() };
}"""


def test_a_growing_loss_chart_takes_the_per_epoch_curves_that_come_after_it_was_made(open_page, moons):
    from backpropviz.i18n import CATALOGUE as TEXTS

    h, path = moons
    s = open_page(path)
    r = s.page.evaluate(GROW_EPOCHS, [10, 100])
    accuracy = TEXTS["page_acc_train"]["en"]
    assert accuracy not in r["before"]
    assert accuracy in r["after"] and r["after"] == r["made"]
    assert s.errors == []


NEAR_LINE = """([param, off]) => {
  const line = document.querySelector(`[data-view=network] line.bpv-network-edge[data-param='${param}']`);
  const svg = line.ownerSVGElement, r = svg.getBoundingClientRect();
  const [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map((k) => Number(line.getAttribute(k)));
  const len = Math.hypot(x2 - x1, y2 - y1);  // (the drawing's units are the page's pixels here)
  return [r.left + (x1 + x2) / 2 - ((y2 - y1) / len) * off, r.top + (y1 + y2) / 2 + ((x2 - x1) / len) * off];
}"""


def test_a_weight_shows_when_the_pointer_is_near_its_line_and_a_bias_on_its_unit(tab, article):
    h, path = article
    s = tab(path)
    k = 10
    go(s, k)
    shown = lambda: s.js("(() => { const t = document.querySelector('.bpv-tip'); return t && t.style.display !== 'none' ? t.textContent : ''; })()")  # noqa: E731
    x, y = s.js(NEAR_LINE, [0, 3])  # w1's line, 3 px beside it
    s.page.mouse.move(x, y)
    assert shown().startswith("w1 = ") and f"{float(h.params[k, 0]):.6g}".replace("-", "−") in shown()
    x, y = s.js(NEAR_LINE, [0, 12])  # 12 px away: no weight
    s.page.mouse.move(x, y)
    assert shown() == ""
    s.page.hover("[data-view=network] circle.bpv-network-unit")  # the output unit: its bias
    assert shown().startswith("b = ") and f"{float(h.params[k, 2]):.6g}".replace("-", "−") in shown()
    assert s.errors == []
