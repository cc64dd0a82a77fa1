"""The playground's views that come after the steps (web/livework.py, web/live/liveviews.js).

While a page trains live, the loss surface of the path so far, the autograd trace of the steps the
page stops at and the per-epoch metrics are computed in the background and streamed. They must be
what ``backpropviz html`` computes (``pack.page_data``) for a history of the same steps, array for
array; in Chromium the surface, the computation graph and the chain-rule table drawn live must
show what the offline page shows at the same step; progress is shown while the surface is
computed and the controls answer meanwhile; a click on the perceptron's surface starts a run from
that (w1, w2), and that run is ``train()``'s of the page's config.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig  # noqa: E402
from backpropviz.history import History  # noqa: E402
from backpropviz.train import train  # noqa: E402
from backpropviz.web import livework  # noqa: E402
from backpropviz.web.pack import decode, page_data  # noqa: E402
from backpropviz.web.server import Server  # noqa: E402
from servehelpers import assert_step_equals, page_link, post  # noqa: E402

MLP = dict(data="moons", n_samples=120, model="mlp:4", activation="tanh", batch_size=15, epochs=6, seed=4,
           test_fraction=0.25)
PERCEPTRON = dict(epochs=40)
SLOW = 120  # seconds: the machine running the tests may be busy


@pytest.fixture(scope="module")
def server():
    s = Server(port=0).start()
    yield s
    s.stop()


def wait(predicate, timeout=SLOW, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def trained(server, client, config):
    """A run of ``config`` on the playground, trained to its end; its LiveWork started."""
    pg = server.playground
    pg.command({"client": client, "action": "new", "config": config, "speed": 0})
    pg.command({"client": client, "action": "play"})
    run = pg.clients[client].run
    run.thread.join(SLOW)
    assert run.status()["state"] == "done"
    return run, livework.work_of(run)


def published(work, name, **fields):
    wait(lambda: name in work.published and all(work.published[name][1].get(k) == v for k, v in fields.items()),
         what=f"the {name} event {fields}")
    return work.published[name][1]


def cut(history: History, n: int) -> History:
    """The first ``n`` steps of ``history``."""
    return dataclasses.replace(history, params=history.params[:n + 1], grads=history.grads[:n], loss=history.loss[:n],
                               epoch=history.epoch[:n], lr=history.lr[:n],
                               batches=None if history.batches is None else history.batches[:n],
                               epoch_train_loss=None, epoch_train_acc=None, epoch_test_loss=None,
                               epoch_test_acc=None)


def assert_same_record(a, b, where):
    if isinstance(a, dict) and "b64" in a:
        np.testing.assert_array_equal(decode(a), decode(b), err_msg=where)
        assert a.get("constant") == b.get("constant"), where
    elif isinstance(a, dict):
        assert sorted(a) == sorted(b), where
        for k in a:
            assert_same_record(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_record(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


# -- the server's side: the same numbers as the offline page ---------------------------------------


@pytest.mark.parametrize("client, settings", [("mlp", MLP), ("perceptron", PERCEPTRON)],
                         ids=["mlp-minibatch-test-set", "perceptron"])
def test_live_surface_trace_and_epoch_metrics_are_the_offline_pages(server, client, settings):
    run, work = trained(server, client, settings)
    history = train(RunConfig(**settings))
    offline = page_data(history)
    surface = published(work, "surface", steps=history.n_steps)["surface"]
    assert_same_record(offline["surface"], surface, "surface")
    assert surface["method"] == ("params" if settings is PERCEPTRON else "pca")
    if settings is PERCEPTRON:
        assert list(surface["fixed"]) == ["b"]  # the plane holds b fixed, and says so

    epochs = published(work, "epochs")["epochs"]
    assert sorted(epochs) == sorted(offline["epochs"])
    for name in offline["epochs"]:  # measured at the same rows, the same way: bit for bit
        np.testing.assert_array_equal(decode(epochs[name]), decode(offline["epochs"][name]), err_msg=name)
    assert len(decode(epochs["train_loss"])) == settings["epochs"] + 1

    steps = [0, 7, history.n_steps - 1]
    server.playground.command({"client": client, "action": "trace", "steps": steps})
    live = published(work, "trace", steps=steps)["trace"]
    trace = offline["trace"]  # every step traced (fewer than 1000)
    np.testing.assert_array_equal(decode(live["steps"]), steps)
    assert [(n["id"], n["name"]) for n in live["nodes"]] == [(n["id"], n["name"]) for n in trace["nodes"]]
    for a, b in zip(trace["nodes"], live["nodes"]):
        for key in ("value", "grad", "shapes"):
            if key not in a:
                assert key not in b
                continue
            rows = decode(a[key])
            rows = np.broadcast_to(rows, (len(steps), rows.shape[1])) if a[key].get("constant") else rows[steps]
            np.testing.assert_array_equal(decode(b[key]) if not b[key].get("constant") else
                                          np.broadcast_to(decode(b[key]), rows.shape), rows, err_msg=f"{a['name']} {key}")
    np.testing.assert_array_equal(decode(live["loss"]), decode(trace["loss"])[steps])
    assert live["edges"] == trace["edges"]


def test_a_surface_made_while_training_is_the_offline_surface_of_the_steps_so_far(server):
    pg = server.playground
    config = dict(MLP, epochs=40)
    pg.command({"client": "part", "action": "new", "config": config, "speed": 150})
    pg.command({"client": "part", "action": "play"})
    run = pg.clients["part"].run
    wait(lambda: run.done_steps >= 30, what="30 steps")
    pg.command({"client": "part", "action": "pause"})
    wait(lambda: run.status()["state"] == "paused", what="the pause")
    work = livework.work_of(run)
    event = published(work, "surface")  # by itself: the run paused
    n, surface = event["steps"], event["surface"]
    assert 30 <= n == run.done_steps < run.n_steps  # the path so far, where the run stopped
    expected = page_data(cut(train(RunConfig(**config)), n))["surface"]
    assert_same_record(expected, surface, "surface")
    # Asked for while training goes on: the path so far again, and the run is not held up.
    pg.command({"client": "part", "action": "play"})
    wait(lambda: run.done_steps >= n + 20, what="20 more steps")
    pg.command({"client": "part", "action": "surface"})
    wait(lambda: work.published["surface"][1]["steps"] > n, what="a newer surface")
    later = work.published["surface"][1]
    assert later["steps"] > n and len(decode(later["surface"]["path"])) == later["steps"] + 1
    pg.command({"client": "part", "action": "pause"})


def test_bad_view_messages_get_one_line_and_the_server_goes_on(server):
    assert post(server, {"client": "v0", "action": "surface"}) == (
        400, {"error": "action 'surface' needs a run: send action 'new' with a config first"})
    assert post(server, {"client": "v1", "action": "new", "config": {"epochs": 5}, "speed": 0})[0] == 200
    status, answer = post(server, {"client": "v1", "action": "trace", "steps": [0]})
    assert status == 400 and answer["error"] == "action 'trace' needs a recorded step: train one step first"
    assert post(server, {"client": "v1", "action": "play"})[0] == 200
    run = server.playground.clients["v1"].run
    run.thread.join(SLOW)
    bad = [({"steps": [5]}, "steps must be step numbers already recorded, 0..4; got 5"),
           ({"steps": [-1]}, "0..4; got -1"), ({"steps": [1.5]}, "got 1.5"), ({"steps": [True]}, "got True"),
           ({"steps": "3"}, "steps must be a list of 1 to 16 step numbers"), ({}, "a list of 1 to 16"),
           ({"steps": []}, "a list of 1 to 16"), ({"steps": list(range(17))}, "a list of 1 to 16")]
    for fields, message in bad:
        status, answer = post(server, {"client": "v1", "action": "trace", **fields})
        assert status == 400 and message in answer["error"] and "\n" not in answer["error"], (fields, answer)
    status, answer = post(server, {"client": "v1", "action": "surface", "steps": [1]})
    assert status == 400 and "action 'surface' takes no other field" in answer["error"]
    # Still answering: a good request is taken, its trace comes.
    assert post(server, {"client": "v1", "action": "trace", "steps": [4, 2]}) == (
        200, {"ok": True, "run": run.id, "action": "trace"})
    assert published(livework.work_of(run), "trace", steps=[2, 4])["trace"]["nodes"]


# -- in the browser ----------------------------------------------------------------------------------


def open_live(server, browser, query=""):
    context = browser.new_context(viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    page.set_default_timeout(SLOW * 1000)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + ("&" + query if query else ""))  # the URL holds the token: settings follow it
    page.wait_for_function("document.documentElement.dataset.ready === '1'")
    page.evaluate("window.backpropviz.idle()")
    return context, page, errors


READ_SURFACE = """() => { const r = document.querySelector('[data-view=surface] .bpv-surface');
  return r && { step: Number(r.dataset.step), point: r.dataset.point, sgd: r.dataset.sgdArrow, update: r.dataset.updateArrow,
    window: r.dataset.window, box: r.dataset.box,
    notes: [...r.querySelectorAll('p.bpv-note')].map(p => p.textContent) }; }"""
READ_GRAPH = """() => { const svg = document.querySelector('[data-view=graph] svg.bpv-graph-svg');
  return svg && { step: Number(svg.dataset.step),
    nearest: document.querySelector('[data-view=graph] .bpv-graph-nearest').textContent,
    nodes: [...svg.querySelectorAll('g.bpv-graph-node')].map(g => [g.dataset.name, g.dataset.value, g.dataset.grad || null]) }; }"""
READ_CHAIN = """() => [...document.querySelectorAll('[data-view=chain] tbody tr')].filter(tr => tr.style.display !== 'none')
  .map(tr => [...tr.querySelectorAll('td[data-value]')].map(td => td.dataset.col + '=' + td.dataset.value))"""
SURFACE_PIXELS = """() => { const c = document.querySelector('[data-view=surface] canvas.bpv-surface-base');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; const seen = new Set();
  for (let i = 0; i < d.length; i += 4 * 97) seen.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]);
  return seen.size; }"""


def test_surface_graph_and_chain_drawn_live_are_what_the_offline_page_draws(server, browser, open_page, tmp_path):
    from backpropviz.web.page import write_page

    history = train(RunConfig(**PERCEPTRON))
    offline_file = tmp_path / "offline.html"
    write_page(page_data(history), offline_file)
    context, page, errors = open_live(server, browser, "epochs=40")
    try:
        page.select_option("select[name=speed]", "0")
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.state().state === 'done'")
        page.wait_for_function("window.backpropvizLive.state().surfaceSteps === 40")
        offline = open_page(offline_file)
        for k in (3, 17):
            page.evaluate(f"window.backpropviz.go({k})")
            page.wait_for_function(f"window.backpropvizLive.state().traced.includes({k})")
            page.wait_for_function(f"document.querySelector('[data-view=graph] svg').dataset.step === '{k}'")
            offline.js(f"window.backpropviz.go({k})")
            live_surface, off_surface = page.evaluate(READ_SURFACE), offline.js(READ_SURFACE)
            for key in ("step", "point", "sgd", "update", "window"):
                assert live_surface[key] == off_surface[key], key
            assert live_surface["notes"] == off_surface["notes"]
            assert page.evaluate(READ_GRAPH) == offline.js(READ_GRAPH)
            assert page.evaluate(READ_CHAIN) == offline.js(READ_CHAIN)
        assert page.evaluate(SURFACE_PIXELS) > 50  # a drawn map, not an empty canvas
        # The step the run ended on was traced by itself (the page stayed there); a step not traced
        # shows the nearest traced one, and says so, as offline.
        assert sorted(page.evaluate("window.backpropvizLive.state().traced")) == [3, 17, 39]
        page.evaluate("window.backpropviz.go(24)")
        graph = page.evaluate(READ_GRAPH)
        assert graph["step"] == 17 and "step 17 (nearest traced step; 3 of 40 steps traced)" in graph["nearest"]
        # The surface's hint in the panel, in Japanese with the viewer.
        page.click(".bpv-lang")
        page.wait_for_function("document.documentElement.lang === 'ja'")
        from backpropviz.i18n import CATALOGUE

        assert page.text_content(".bpv-live-views legend") == CATALOGUE["page_live_panel"]["ja"]
        assert page.text_content(".bpv-live-surface-status") == CATALOGUE["page_live_surface_params"]["ja"].format(n=40)
        assert errors == [] and offline.errors == []
    finally:
        context.close()


def test_progress_is_shown_and_the_controls_answer_while_the_surface_is_computed(server, browser, monkeypatch):
    monkeypatch.setattr(livework, "SURFACE_RESOLUTION", 401)  # a surface that takes a while to compute (~1 s here)
    query = "data=moons&n_samples=400&model=mlp:8&batch_size=40&epochs=30&seed=1&test_fraction=0.25"
    context, page, errors = open_live(server, browser, query)
    try:
        page.evaluate("""() => { window.drawn = [];
          document.getElementById('bpv-live').addEventListener('bpv-live-drawn', (e) => window.drawn.push([performance.now(), e.detail.steps])); }""")
        page.evaluate("window.backpropviz.step()")  # one step, then paused: its surface is computed by itself
        page.wait_for_function("window.backpropviz.steps() === 1")
        shown = page.wait_for_function("""() => {  // the progress event, and the panel showing it, at once
          const p = window.backpropvizLive.state().progress, bar = document.querySelector('.bpv-live-progress');
          return p && p.total > 0 && bar.style.display === '' &&
            { text: document.querySelector('.bpv-live-surface-status').textContent, value: bar.value }; }""").json_value()
        assert "computing" in shown["text"] and 0 <= shown["value"] <= 1
        page.click(".bpv-live-step")  # while the surface is computed
        page.wait_for_function("window.backpropviz.steps() === 2")
        page.wait_for_function("window.backpropvizLive.state().surfaceSteps !== null")
        state = page.evaluate("window.backpropvizLive.state()")
        log = state["log"]
        surface_at = next(e["ms"] for e in log if e["name"] == "surface")
        progress = [e for e in log if e["name"] == "progress" and e["ms"] < surface_at]
        assert len(progress) >= 2 and all(0 <= e["done"] <= e["total"] for e in progress)
        assert any(0 < e["done"] < e["total"] for e in progress)  # part way, shown on the page
        # The step made meanwhile arrived before the surface, which covers the step it was made at.
        drawn = page.evaluate("window.drawn")
        assert [s for t, s in drawn if t < surface_at][-1] == 2
        assert next(e["steps"] for e in log if e["name"] == "surface") == 1
        # The loss view shows the test set's loss per epoch, as streamed.
        page.evaluate("window.backpropviz.play()")
        # Steps made after the surface are projected onto its plane, and the view says so.
        page.wait_for_function("window.backpropviz.steps() >= 20")
        page.wait_for_function("""() => (document.querySelector('[data-view=surface] .bpv-surface-losses') || {})
          .textContent.match(/^This step came after the surface was computed \\(it covers the first [12] steps\\)/)""")
        page.wait_for_function("window.backpropviz.state().state === 'done'")
        page.wait_for_function("window.backpropvizLive.state().surfaceSteps === window.backpropviz.steps()")
        legend = page.text_content("[data-view=loss]")
        assert "test set (per epoch)" in legend
        assert errors == []
    finally:
        context.close()


def test_clicking_the_perceptron_surface_starts_a_run_from_that_point(server, browser):
    context, page, errors = open_live(server, browser, "epochs=30")
    try:
        page.select_option("select[name=speed]", "0")
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.state().state === 'done' && window.backpropviz.steps() === 30")
        page.wait_for_function("window.backpropvizLive.state().surfaceSteps === 30")
        # (and the last step traced: its graph comes and the note that it was pending goes, which
        # moves the cards below it; a click measured before that may land elsewhere)
        page.wait_for_function("window.backpropvizLive.state().traced.includes(29)"
                               " && document.querySelector('[data-view=graph] svg') !== null")
        first = page.evaluate("window.backpropviz.state().run")
        surface = page.evaluate(READ_SURFACE)
        bx, by, bw, bh = map(float, surface["box"].split(","))
        x0, x1, y0, y1 = map(float, surface["window"].split(","))
        # a point in the upper right of the plane, far from the path (which starts at (-1, 1))
        x, y = bx + 0.8 * bw, by + 0.15 * bh
        w1, w2 = x0 + (x - bx) / bw * (x1 - x0), y0 + (by + bh - y) / bh * (y1 - y0)
        page.click("[data-view=surface] canvas.bpv-surface-overlay", position={"x": x, "y": y})
        page.wait_for_function(f"window.backpropviz.state().run !== {first} && window.backpropviz.state().state === 'done'"
                               " && window.backpropviz.steps() === 30")  # (steps are drawn a frame after they come)
        config = page.evaluate("window.backpropviz.config()")
        init = config["init"]
        assert abs(init[0] - w1) <= (x1 - x0) / bw and abs(init[1] - w2) <= (y1 - y0) / bh  # within a pixel
        assert init[2] == 0  # b kept: the article's start
        assert page.evaluate("window.backpropviz.settings().init") == init  # the controls (and the link) hold it
        assert f"init={init[0]},{init[1]},0" in page_link(page)
        history = train(RunConfig.from_dict(config))
        np.testing.assert_array_equal(history.params[0], np.array(init, dtype=np.float32))
        n = page.evaluate("window.backpropviz.steps()")
        assert n == history.n_steps == 30
        for k in (0, n - 1):
            assert_step_equals(page, history, k)
        assert errors == []
    finally:
        context.close()


# -- a new run in the same viewer --------------------------------------------------------------------

MOONS_8_8 = dict(data="moons", model="mlp:8,8", activation="relu", optimizer="adam", lr=0.05, batch_size=10, epochs=30,
                 seed=0)
MARK = """() => { window.__old = { root: document.querySelector('.bpv-live-view > .bpv'),
  cards: [...document.querySelectorAll('.bpv-card')], run: window.backpropviz.state().run }; }"""
# The elements of views that a traced step must leave alone (only the graph and chain use a trace).
MARK_VIEWS = """() => { window.__views = ['params', 'boundary', 'network', 'update'].map(
  (v) => document.querySelector(`[data-view=${v}] .bpv-body`).firstElementChild); }"""


def layer_shapes(names):
    """(out, in) of each weight matrix, read from the parameter names ('0.weight[2,1]', ...)."""
    shapes = {}
    for name in names:
        if ".weight[" in name:
            layer, idx = name.split(".weight[")
            i, j = (int(x) for x in idx.rstrip("]").split(","))
            out, inp = shapes.get(layer, (0, 0))
            shapes[layer] = (max(out, i + 1), max(inp, j + 1))
    return list(shapes.values())


def settled_steps(page):
    """The page's step count once a paused run's last steps have all arrived."""
    last, same_since = -1, time.monotonic()
    while time.monotonic() - same_since < 0.6:
        n = page.evaluate("window.backpropviz.steps()")
        if n != last:
            last, same_since = n, time.monotonic()
        time.sleep(0.05)
    return last


def test_a_neuron_added_while_training_shows_the_new_run_in_the_same_viewer_and_nothing_of_the_old(server, browser):
    from urllib.parse import urlencode

    context, page, errors = open_live(server, browser, urlencode({**MOONS_8_8, "speed": 120}))
    try:
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.steps() >= 10")
        page.evaluate(MARK)
        page.click(".bpv-live-layer[data-layer='0'] .bpv-live-more")  # mlp:8,8 -> mlp:9,8, trained at once
        page.wait_for_function("window.backpropviz.state().run !== window.__old.run && window.backpropviz.steps() >= 3")
        page.evaluate(MARK_VIEWS)
        page.wait_for_function("window.backpropviz.steps() >= 12")
        page.evaluate("window.backpropviz.pause()")
        page.wait_for_function("window.backpropviz.state().state === 'paused'")
        n = settled_steps(page)
        assert page.evaluate("window.backpropviz.settings().model") == "mlp:9,8"

        # The viewer and its cards are the ones of the first run (the loss surface, computed in the
        # background, may have come for the first run and not yet for this one: its cards may differ).
        assert page.evaluate("document.querySelector('.bpv-live-view > .bpv') === window.__old.root")
        kept = page.evaluate("""() => window.__old.cards.filter((c) => !c.dataset.view.startsWith('surface')).map((c) =>
          [c.dataset.view, c === document.querySelector(`.bpv-card[data-view=${c.dataset.view}]`)])""")
        assert kept == [[v, True] for v in ("boundary", "params", "loss", "network", "update")]
        # Its numbers are train()'s of the new config, step for step.
        expected = RunConfig(**{**MOONS_8_8, "model": "mlp:9,8"})
        history = train(expected)
        for k in sorted({0, 1, n // 2, n - 1}):
            assert_step_equals(page, history, k)

        # The network has the new layer sizes: one line per weight, one unit per bias.
        shapes = layer_shapes(history.param_names)
        assert [s[0] for s in shapes] == [9, 8, 1]
        net = page.evaluate("""() => ({ edges: [...document.querySelectorAll('[data-view=network] line.bpv-network-edge')]
            .map((l) => l.dataset.name), units: document.querySelectorAll('[data-view=network] circle.bpv-network-unit').length,
          captions: [...document.querySelectorAll('[data-view=network] .bpv-network-caption')].map((c) => c.lastChild.textContent) })""")
        assert sorted(net["edges"]) == sorted(x for x in history.param_names if ".weight[" in x)
        assert net["units"] == sum(out for out, _ in shapes)
        assert net["captions"] == ["2", "9 × relu", "8 × relu", "1 × sigmoid"]
        # The other views are the new run's: the parameters' layers and count, no card of the old run.
        options = page.evaluate("[...document.querySelectorAll('[data-view=params] select option')].map((o) => o.textContent)")
        assert [o.split("(")[1].split(" ")[0] for o in options] == [f"{o}×{i}" for o, i in shapes]
        update = page.evaluate("[...document.querySelectorAll('[data-view=update] select option')].map((o) => o.textContent)")
        assert f"all {len(history.param_names)} parameters" in update
        views = page.evaluate("[...document.querySelectorAll('.bpv-card')].map((c) => c.dataset.view)")
        assert len(views) == len(set(views)) and views == page.evaluate("window.backpropviz.views()")
        # One growth callback for the viewer and one per chart: none left behind by the views of the old run.
        assert page.evaluate("window.backpropviz.viewer().growListeners()") == 1 + page.evaluate(
            "document.querySelectorAll('.bpv-card .uplot').length") == 3

        # The step counter and the status count alike: steps 0 .. n-1 are the n steps trained.
        page.evaluate(f"window.backpropviz.go({n - 1})")
        readout = page.text_content(".bpv-readout")
        status = page.text_content(".bpv-live-status")
        assert f"step {n - 1} / {n - 1} ·" in readout and f"paused · {n} of {len(history.loss)} steps trained" in status

        # The step the page stopped on is traced: the graph comes, the views that use no trace stay.
        page.wait_for_function(f"window.backpropvizLive.state().traced.includes({n - 1})")
        page.wait_for_function("document.querySelector('[data-view=graph] svg') !== null")
        kept = page.evaluate("""() => window.__views.map((el, i) => el.isConnected && el === document.querySelector(
          `[data-view=${['params', 'boundary', 'network', 'update'][i]}] .bpv-body`).firstElementChild)""")
        assert kept == [True, True, True, True]

        # Charts made again (another layer's parameters, another language) leave no callback behind.
        page.select_option("[data-view=params] select", "1")
        page.click(".bpv-lang")
        page.wait_for_function("document.documentElement.lang === 'ja'")
        charts = page.evaluate("document.querySelectorAll('.bpv-card .uplot').length")
        assert charts >= 2 and page.evaluate("window.backpropviz.viewer().growListeners()") == 1 + charts
        assert errors == []
    finally:
        context.close()


# Every frame the playground draws from the click on `selector` on: the run it says it drew and what the viewer shows then.
CLICK_AND_WATCH = """(selector) => { window.__drawn = [];
  document.getElementById('bpv-live').addEventListener('bpv-live-drawn', (ev) => {
    const c = window.backpropviz.current();
    window.__drawn.push({ run: ev.detail.run, names: c.names.length, params: c.params.length, step: c.step,
      steps: window.backpropviz.steps(), readout: document.querySelector('.bpv-readout').textContent });
  });
  document.querySelector(selector).click(); }"""


def test_after_a_control_change_only_the_new_run_is_drawn_and_the_language_switch_works_without_labels_sent(
        server, browser):
    from urllib.parse import urlencode

    from backpropviz.i18n import CATALOGUE as TEXTS

    # The answer to "new" leaves the catalogue out (the page has it from /api/choices); the run is all there.
    answer = server.playground.command({"client": "no-labels", "action": "new", "config": MOONS_8_8})
    assert "labels" not in answer["meta"] and answer["meta"]["run"]["param_names"]
    old_names = list(train(RunConfig(**{**MOONS_8_8, "epochs": 1})).param_names)
    new_names = list(train(RunConfig(**{**MOONS_8_8, "model": "mlp:9,8", "epochs": 1})).param_names)
    assert len(old_names) == 105 and len(new_names) == 116  # 2·8+8 + 8·8+8 + 8+1; 2·9+9 + 9·8+8 + 8+1

    context, page, errors = open_live(server, browser, urlencode({**MOONS_8_8, "epochs": 2000, "speed": 120}))
    try:
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.steps() >= 10")
        old_run = page.evaluate("window.backpropviz.state().run")
        # mlp:8,8 -> mlp:9,8, trained at once
        page.evaluate(CLICK_AND_WATCH, ".bpv-live-layer[data-layer='0'] .bpv-live-more")
        page.wait_for_function(f"window.backpropviz.state().run !== {old_run} && window.backpropviz.steps() >= 8")
        page.evaluate("window.backpropviz.pause()")
        page.wait_for_function("window.backpropviz.state().state === 'paused'")
        settled_steps(page)
        new_run = page.evaluate("window.backpropviz.state().run")
        drawn = page.evaluate("window.__drawn")
        # No frame of the old run after the change (its queued steps, its pending frame): each frame
        # drawn is the new run's, and the viewer then shows the new run's 116 parameters at one of its steps.
        assert drawn and new_run != old_run
        assert [d["run"] for d in drawn] == [new_run] * len(drawn)
        assert all(d["names"] == d["params"] == len(new_names) for d in drawn), drawn[:3]
        assert all(0 <= d["step"] < d["steps"] and f"step {d['step']} / " in d["readout"] for d in drawn), drawn[:3]
        assert [d["steps"] for d in drawn] == sorted(d["steps"] for d in drawn)  # the new run's steps only grow
        assert page.evaluate("window.backpropviz.current().names") == new_names

        # The language switch, after runs whose answers carried no catalogue: the viewer, the
        # controls and the live views' panel (which reads the recording's labels) are in Japanese.
        page.evaluate("window.backpropviz.lang('ja')")
        page.wait_for_function("document.documentElement.lang === 'ja'")
        ja = page.evaluate("""() => ({ card: document.querySelector('[data-view=boundary] h2').textContent,
          title: document.querySelector('.bpv-live-head h1').textContent,
          panel: document.querySelector('.bpv-live-views legend').textContent,
          readout: document.querySelector('.bpv-readout').textContent })""")
        assert ja["card"] == TEXTS["page_view_boundary"]["ja"] and ja["title"] == TEXTS["page_live_title"]["ja"]
        assert ja["panel"] == TEXTS["page_live_panel"]["ja"] and "step" not in ja["readout"]
        page.evaluate("window.backpropviz.lang('en')")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.text_content("[data-view=boundary] h2") == TEXTS["page_view_boundary"]["en"]
        assert page.text_content(".bpv-live-views legend") == TEXTS["page_live_panel"]["en"]
        assert errors == []
    finally:
        context.close()


MENU_FITS = """() => { const el = document.querySelector('select[name=init_mode]');
  const g = document.createElement('canvas').getContext('2d'); const cs = getComputedStyle(el);
  g.font = `${cs.fontSize} ${cs.fontFamily}`;
  return [...el.options].map((o) => [o.value, g.measureText(o.textContent).width, el.getBoundingClientRect().width]); }"""


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_every_initialisation_choice_fits_its_menu(server, browser, lang):
    context, page, errors = open_live(server, browser, f"data=moons&model=mlp:8,8#lang={lang}")
    try:
        page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        for value, text, width in page.evaluate(MENU_FITS):
            assert text + 24 <= width, f"{value}: its text is {text:.0f} px, the menu {width:.0f} px (the arrow needs ~24)"
        assert errors == []
    finally:
        context.close()


# Each card as its DOM (elements with their attributes in name order, and texts) and the pixels of
# its canvases.
CARDS = """() => {
  const dom = (n) => n.nodeType === 3 ? n.textContent : n.nodeType !== 1 ? "" : `<${n.tagName} ${[...n.attributes]
    .map((a) => `${a.name}=${a.value}`).sort().join(" ")}>${[...n.childNodes].map(dom).join("")}</${n.tagName}>`;
  return Object.fromEntries(['boundary', 'params', 'loss', 'network', 'update'].map((v) => {
    const card = document.querySelector(`.bpv-card[data-view=${v}]`);
    return [v, { dom: dom(card), pixels: [...card.querySelectorAll('canvas')].map((c) => c.toDataURL()) }]; })); }"""
# Which of the views' first elements are the ones shown before the change (kept, not made again).
SAME_ELEMENTS = """() => Object.fromEntries(window.__first.map(([v, el]) => [v, el.isConnected
  && el === document.querySelector(`.bpv-card[data-view=${v}] .bpv-body`).firstElementChild]))"""


@pytest.mark.parametrize("change", ["neuron", "seed"])
def test_views_kept_for_the_next_run_draw_what_views_made_for_it_draw(server, browser, change):
    from urllib.parse import urlencode

    context, page, errors = open_live(server, browser, urlencode({**MOONS_8_8, "epochs": 2000, "speed": 120}))
    try:
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.steps() >= 10")
        page.evaluate("""() => { window.__first = ['boundary', 'params', 'loss', 'network', 'update'].map((v) =>
          [v, document.querySelector(`.bpv-card[data-view=${v}] .bpv-body`).firstElementChild]); }""")
        old_run = page.evaluate("window.backpropviz.state().run")
        if change == "neuron":  # mlp:8,8 -> mlp:9,8: the layer-1 parameters, the network and the units' tiles change
            page.click(".bpv-live-layer[data-layer='0'] .bpv-live-more")
        else:  # the same model from another start, on other data (the seed draws both): the charts and the network can stay
            page.fill("input[name=seed]", "5")
            page.dispatch_event("input[name=seed]", "change")
        page.wait_for_function(f"window.backpropviz.state().run !== {old_run} && window.backpropviz.steps() >= 12")
        page.evaluate("window.backpropviz.pause()")
        page.wait_for_function("window.backpropviz.state().state === 'paused'")
        n = settled_steps(page)
        kept = page.evaluate(SAME_ELEMENTS)
        # (the loss chart is made again when the run's first per-epoch metrics come: more curves)
        del kept["loss"]
        # (the parameters' view keeps its layer menu for as many layers: its chart is made again for other shapes)
        assert kept == {"boundary": change == "neuron", "update": True, "network": change == "seed", "params": True}
        page.evaluate(f"window.backpropviz.go({n // 2})")
        time.sleep(0.3)  # (a chart's last growth is drawn in a timer)
        shown = page.evaluate(CARDS)
        # The same steps in views made for this run: the language switch makes every view again.
        page.evaluate("window.backpropviz.lang('ja')")
        page.evaluate("window.backpropviz.lang('en')")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert page.evaluate("window.backpropviz.steps()") == n
        page.evaluate(f"window.backpropviz.go({n // 2})")
        time.sleep(0.3)
        made = page.evaluate(CARDS)
        assert not any(page.evaluate(SAME_ELEMENTS).values())  # (they were made again)
        differ = [(v, part) for v in shown for part in ("dom", "pixels") if shown[v][part] != made[v][part]]
        assert not differ, differ
        config = RunConfig(**{**MOONS_8_8, "epochs": 2, **({"model": "mlp:9,8"} if change == "neuron" else {"seed": 5})})
        assert_step_equals(page, train(config), n // 2)
        assert errors == []
    finally:
        context.close()


# The parameters' view: its layer menu's options, the pixels of its chart and the tooltip at a point of it.
PARAMS_VIEW = """async () => { const card = document.querySelector('.bpv-card[data-view=params]');
  const over = card.querySelector('.u-over'), r = over.getBoundingClientRect(), tips = [];
  for (const x of [0.2, 0.5, 0.8]) for (let i = 1; i < 60; i++) {  // (the tooltip names the parameter nearest the pointer)
    over.dispatchEvent(new MouseEvent('mousemove', { clientX: r.left + r.width * x, clientY: r.top + r.height * i / 60, bubbles: true }));
    const tip = document.querySelector('.bpv-tip');
    tips.push(tip && tip.style.display !== 'none' ? tip.textContent : null);
  }
  return { options: [...card.querySelectorAll('select option')].map((o) => o.textContent),
           pixels: [...card.querySelectorAll('canvas')].map((c) => c.toDataURL()), tips }; }"""


def test_the_layer_menu_kept_for_a_neuron_added_shows_each_layer_as_a_menu_made_for_the_run(server, browser):
    from urllib.parse import urlencode

    context, page, errors = open_live(server, browser, urlencode({**MOONS_8_8, "epochs": 2000, "speed": 120}))
    try:
        page.evaluate("window.backpropviz.play()")
        page.wait_for_function("window.backpropviz.steps() >= 10")
        page.evaluate("window.__menu = document.querySelector('.bpv-card[data-view=params] select')")
        old_run = page.evaluate("window.backpropviz.state().run")
        page.click(".bpv-live-layer[data-layer='0'] .bpv-live-more")  # mlp:8,8 -> mlp:9,8
        page.wait_for_function(f"window.backpropviz.state().run !== {old_run} && window.backpropviz.steps() >= 12")
        page.evaluate("window.backpropviz.pause()")
        page.wait_for_function("window.backpropviz.state().state === 'paused'")
        n = settled_steps(page)
        assert page.evaluate("window.__menu === document.querySelector('.bpv-card[data-view=params] select')")

        def each_layer():
            shown = []
            for layer in ("0", "1", "2"):
                if layer != "0":  # (the layer shown first: its chart as the view has it, not made again by a choice)
                    page.select_option(".bpv-card[data-view=params] select", layer)
                page.evaluate(f"window.backpropviz.go({n // 2})")
                time.sleep(0.3)  # (a chart's last growth is drawn in a timer)
                shown.append(page.evaluate(PARAMS_VIEW))
            return shown

        kept = each_layer()
        assert [o.split("(")[-1].split()[0] for o in kept[0]["options"]] == ["9×2", "8×9", "1×8"]  # (out × in)
        # (no legend for these many parameters: the tooltip names them, the layer's biases among them)
        assert all(all(v["tips"]) for v in kept) and any("bias" in tip for tip in kept[0]["tips"])
        page.evaluate("window.backpropviz.lang('ja')")  # every view made again, for this run
        page.evaluate("window.backpropviz.lang('en')")
        page.wait_for_function("document.documentElement.lang === 'en'")
        assert not page.evaluate("window.__menu.isConnected")
        assert each_layer() == kept
        assert errors == []
    finally:
        context.close()


def test_the_loss_chart_shows_the_per_epoch_accuracy_while_the_run_trains(server, browser):
    from urllib.parse import urlencode

    from backpropviz.i18n import CATALOGUE as TEXTS

    accuracy = TEXTS["page_acc_train"]["en"]
    context, page, errors = open_live(server, browser, urlencode({**MOONS_8_8, "epochs": 2000, "speed": 200}))
    try:
        page.evaluate("window.backpropviz.play()")
        legend = "() => [...document.querySelectorAll('[data-view=loss] .u-legend .u-series .u-label')].map((s) => s.textContent)"
        # The curve is there from the first frame: the run says which metrics will come.
        page.wait_for_function("document.querySelector('[data-view=loss] .uplot') !== null")
        assert any(accuracy in s for s in page.evaluate(legend))
        page.wait_for_function("window.backpropviz.steps() >= 45")  # two epochs of 20 steps ended
        page.wait_for_function(f"({legend})().some((s) => s.includes({accuracy!r}))")
        assert page.evaluate("window.backpropviz.state().state") == "running"  # shown while it trains
        # and it is the chart a view made now draws: the same curves
        shown = page.evaluate(legend)
        page.evaluate("window.backpropviz.pause()")
        page.evaluate("window.backpropviz.lang('ja')")
        page.evaluate("window.backpropviz.lang('en')")
        assert page.evaluate(legend) == shown
        assert errors == []
    finally:
        context.close()
