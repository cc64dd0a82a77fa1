"""The interactive page in a real headless Chromium, network blocked: it loads with no error and no
request, shows exactly the recorded step, every control moves every view, the URL hash round-trips,
Japanese renders with the embedded font."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch

from backpropviz.config import RunConfig
from backpropviz.history import History
from backpropviz.train import train
from backpropviz.web.pack import decode, encode, page_data, page_labels
from backpropviz.web.page import write_page
from pagehelpers import GROWING, MOONS  # the browser fixtures live in conftest.py

SMALL_MOONS = {**MOONS, "epochs": 40}  # 240 steps of mini-batches: the same kind of run, quicker


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    h = train(RunConfig())
    folder = tmp_path_factory.mktemp("article")
    en, ja = folder / "article.html", folder / "article_ja.html"
    write_page(page_data(h, lang="en"), en)
    write_page(page_data(h, lang="ja"), ja)
    return h, en, ja


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    h = train(RunConfig(**SMALL_MOONS))
    path = tmp_path_factory.mktemp("moons") / "moons.html"
    write_page(page_data(h, lang="en"), path)
    return h, path


# -- what a view shows, as a fingerprint: its DOM and the pixels of its canvases --------------------

SNAPSHOT = """() => Object.fromEntries([...document.querySelectorAll('.bpv-card')].map(card => [
  card.dataset.view,
  card.innerHTML.length + ':' + [...card.querySelectorAll('canvas')].map(c => c.toDataURL()).join('|')
    + card.innerHTML]))"""


def snapshot(s):
    return s.js(SNAPSHOT)


def assert_every_view_moved(before, after, how):
    assert set(before) == set(after)
    still = [v for v in before if before[v] == after[v]]
    assert not still, f"{how}: these views did not follow the step: {still}"


# -- loading ------------------------------------------------------------------------------------------

def test_page_loads_from_disk_with_no_console_error_and_no_request(open_page, article, moons):
    for path in (article[1], article[2], moons[1]):
        s = open_page(path)
        s.page.wait_for_timeout(200)
        assert s.errors == [], s.errors
        assert s.requests == [], s.requests
        views = s.js("[...document.querySelectorAll('.bpv-card')].map(c => c.dataset.view)")
        assert views[:3] == ["boundary", "params", "loss"]
        failed = s.js("[...document.querySelectorAll('.bpv-card')].filter(c => /could not be drawn|描けなかった/.test(c.textContent)).length")
        assert failed == 0


@pytest.mark.parametrize("which", ["article", "moons"])
def test_go_shows_exactly_the_recorded_parameters_gradient_and_loss(open_page, article, moons, which):
    h, path = (article[0], article[1]) if which == "article" else moons
    s = open_page(path)
    assert s.js("window.backpropviz.steps()") == h.n_steps
    for k in (0, 10, h.n_steps - 1):
        shown = s.js(f"window.backpropviz.go({k})")
        assert shown == k
        cur = s.js("window.backpropviz.current()")
        assert cur["step"] == k and cur["epoch"] == int(h.epoch[k])
        assert cur["names"] == list(h.param_names)
        # float32 numbers, exactly as the history file holds them
        np.testing.assert_array_equal(np.float32(cur["params"]), h.params[k])
        np.testing.assert_array_equal(np.float32(cur["grad"]), h.grads[k])
        assert np.float32(cur["loss"]) == h.loss[k]
        readout = s.js("document.querySelector('.bpv-readout').textContent")
        assert f"step {k} / {h.n_steps - 1}" in readout
        assert f"epoch {int(h.epoch[k])}" in readout
        assert f"{float(h.loss[k]):.4g}".replace("-", "−") in readout


def test_out_of_range_steps_are_clamped_not_an_error(open_page, article):
    h, path, _ = article
    s = open_page(path)
    assert s.js("window.backpropviz.go(99999)") == h.n_steps - 1
    assert s.js("window.backpropviz.go(-5)") == 0
    assert s.errors == []


def test_slider_buttons_keys_and_a_click_on_the_loss_curve_each_move_every_view(open_page, moons):
    h, path = moons
    s = open_page(path)
    s.js("window.backpropviz.go(20)")
    p = s.page

    def step():
        return s.js("window.backpropviz.current().step")

    before = snapshot(s)
    p.eval_on_selector(".bpv-slider", "el => { el.value = '120'; el.dispatchEvent(new Event('input')); }")
    assert step() == 120
    assert_every_view_moved(before, snapshot(s), "slider")

    before = snapshot(s)
    p.click(".bpv-fwd")
    assert step() == 121
    assert_every_view_moved(before, snapshot(s), "step-forward button")

    before = snapshot(s)
    p.click(".bpv-back")
    p.click(".bpv-back")
    assert step() == 119
    assert_every_view_moved(before, snapshot(s), "step-back button")

    before = snapshot(s)
    p.focus(".bpv")
    p.keyboard.press("ArrowRight")
    assert step() == 120
    assert_every_view_moved(before, snapshot(s), "arrow key")
    p.keyboard.press("ArrowLeft")
    assert step() == 119

    before = snapshot(s)
    over = p.locator(".bpv-view-loss .u-over")
    box = over.bounding_box()
    over.click(position={"x": box["width"] * 0.8, "y": box["height"] / 2})
    clicked = step()
    assert clicked > 150, clicked  # 80% of the way along the steps axis
    assert_every_view_moved(before, snapshot(s), "click on the loss curve")

    # play moves it too, and pause stops it
    p.click(".bpv-play")
    p.wait_for_timeout(400)
    p.click(".bpv-play")
    played = step()
    assert played > clicked
    p.wait_for_timeout(200)
    assert step() == played


# Every write to a form control while the page plays, counted: a <select>'s value set again (even
# to the choice it has) has Chromium's autofill parse the page's forms anew, in the browser's
# process, every frame.
COUNT_CONTROL_WRITES = """() => {
  const counts = window.__writes = { select: 0, buttonText: 0 };
  const value = Object.getOwnPropertyDescriptor(HTMLSelectElement.prototype, "value");
  Object.defineProperty(HTMLSelectElement.prototype, "value", { configurable: true, get: value.get,
    set(v) { counts.select++; value.set.call(this, v); } });
  new MutationObserver((ms) => { for (const m of ms) if (m.target.nodeName === "BUTTON") counts.buttonText++; })
    .observe(document.body, { subtree: true, childList: true, characterData: true });
}"""


def test_playing_rewrites_no_control_that_did_not_change(open_page, moons):
    h, path = moons
    s = open_page(path)
    s.js(COUNT_CONTROL_WRITES)
    s.page.click(".bpv-play")
    s.page.wait_for_function("window.backpropviz.current().step >= 30")  # many frames, each a set()
    s.page.click(".bpv-play")
    writes = s.js("window.__writes")
    assert s.js("window.backpropviz.current().step") >= 30
    assert writes["select"] == 0, writes
    assert writes["buttonText"] <= 2, writes  # the play button's glyph: playing, then paused


def test_url_hash_holds_step_views_and_language(open_page, article):
    h, path, _ = article
    s = open_page(path, hash_="#step=37&views=boundary,loss&lang=ja")
    cur = s.js("window.backpropviz.current()")
    assert cur["step"] == 37 and cur["lang"] == "ja" and cur["views"] == ["boundary", "loss"]
    assert s.js("[...document.querySelectorAll('.bpv-card')].map(c => c.dataset.view)") == ["boundary", "loss"]
    assert "ステップ 37" in s.js("document.querySelector('.bpv-readout').textContent")
    s.js("window.backpropviz.go(50)")
    s.page.wait_for_function("location.hash.includes('step=50')", timeout=5000)  # written once scrubbing pauses
    hash_ = s.js("location.hash")
    assert "step=50" in hash_ and "lang=ja" in hash_ and "views=boundary,loss" in hash_
    again = open_page(path, hash_=hash_)
    assert again.js("window.backpropviz.current()")["step"] == 50
    assert again.js("window.backpropviz.current()")["views"] == ["boundary", "loss"]
    # garbage in the hash: ignored, the page still opens
    bad = open_page(path, hash_="#step=abc&views=nothing&lang=xx")
    assert bad.js("window.backpropviz.current()")["step"] == 0
    assert bad.errors == []


# Strings written here, independent of the catalogue: what a reader of the article expects to see.
JAPANESE = ["損失", "学習", "ステップ", "勾配"]

GLYPHS = """([text, family]) => {
  const draw = (t, f) => { const c = document.createElement('canvas'); c.width = 64; c.height = 32;
    const g = c.getContext('2d'); g.font = '24px ' + f; g.fillText(t, 4, 26); return c.toDataURL(); };
  return { withFont: draw(text, family), tofu: draw('\\uE000', family), system: draw(text, 'sans-serif'),
           loaded: document.fonts.check('24px ' + family, text) };
}"""


def test_japanese_renders_with_the_embedded_font_not_boxes(open_page, article):
    s = open_page(article[2])
    body = s.js("document.body.innerText")
    for word in JAPANESE:
        assert word in body
    for ch in "損失学習勾配経路": 
        r = s.js(GLYPHS, [ch, "bpv-ja"])
        assert r["loaded"], ch
        assert r["withFont"] != r["tofu"], f"{ch} draws as the missing-glyph box"
    # the page's texts use that font
    assert "bpv-ja" in s.js("getComputedStyle(document.querySelector('.bpv-card h2')).fontFamily")


def test_views_that_do_not_fit_are_left_out_and_said_once(open_page, moons):
    h, path = moons
    s = open_page(path)
    views = s.js("[...document.querySelectorAll('.bpv-card')].map(c => c.dataset.view)")
    assert "chain" not in views and "graph" in views
    notes = s.js("document.querySelector('.bpv-notes').innerText")
    assert notes.count("chain-rule table") == 1


def test_a_thinned_page_keeps_the_first_and_last_steps_and_says_so(open_page, tmp_path):
    h = train(RunConfig(epochs=300))
    data = page_data(h, max_step_floats=10 * 50, trace_steps=20)
    index = decode(data["steps"]["index"])
    assert index[0] == 0 and index[-1] == h.n_steps - 1 and len(index) < h.n_steps
    path = write_page(data, tmp_path / "thin.html")
    s = open_page(path)
    n = s.js("window.backpropviz.steps()")
    assert n == len(index)
    s.js(f"window.backpropviz.go({n - 1})")
    cur = s.js("window.backpropviz.current()")
    assert cur["step"] == h.n_steps - 1
    np.testing.assert_array_equal(np.float32(cur["params"]), h.params[-1 - 1])
    assert f"{n} of the run's {h.n_steps} steps" in s.js("document.querySelector('.bpv-notes').innerText")


# -- the page's data, without a browser -------------------------------------------------------------

def test_arrays_travel_exactly():
    a = np.array([[1.5, -0.0, np.nan], [np.inf, -np.inf, 3e-39]], dtype=np.float32)
    back = decode(encode(a))
    assert back.shape == a.shape and back.dtype == np.float32
    np.testing.assert_array_equal(back, a)
    assert np.signbit(back[0, 1])
    np.testing.assert_array_equal(decode(encode(np.arange(5), "i4")), np.arange(5))


def test_whole_set_loss_along_the_path_is_the_plain_torch_loss(moons):
    h, _ = moons
    data = page_data(h, trace_steps=0)
    whole = decode(data["steps"]["whole_loss"])
    from backpropviz.train import model_at

    for row in (0, 17, h.n_steps):
        model = model_at(h, row)
        with torch.no_grad():
            p = model(torch.from_numpy(h.X.astype(np.float32))).reshape(-1)
            ref = torch.nn.functional.binary_cross_entropy(p, torch.from_numpy(h.y.astype(np.float32)).reshape(-1))
        assert whole[row] == pytest.approx(float(ref), rel=1e-5)
    # a mini-batch run: the batch losses are not the whole set's
    assert not np.allclose(whole[:-1], h.loss, rtol=1e-3)


def test_page_labels_exist_in_both_languages_with_the_same_fields():
    labels = page_labels()
    assert set(labels["en"]) == set(labels["ja"])
    for key, text in labels["en"].items():
        assert sorted(re.findall(r"\{(\w+)\}", text)) == sorted(re.findall(r"\{(\w+)\}", labels["ja"][key])), key


def test_page_data_is_plain_json_with_a_version():
    h = train(RunConfig(epochs=30))
    data = page_data(h, trace_steps=5)
    text = json.dumps(data, allow_nan=False)
    back = json.loads(text)
    assert back["format"] == "backpropviz-page" and back["version"] == 1
    np.testing.assert_array_equal(decode(back["steps"]["params"]), h.params)
    np.testing.assert_array_equal(decode(back["steps"]["grads"]), h.grads)


GROW = """async ([first, extra]) => {""" + GROWING + """
  // A recording that starts empty and grows as a live server would send steps.
  const rec = new Recording(page, P);
  const send = grow(rec);
  send(0, first);
  const el = document.createElement("div");
  document.body.append(el);
  const api = mount(el, rec, { hash: false });
  const before = api.steps();
  send(first, first + extra);
  const after = api.steps();
  api.go(first + extra - 1);
  return { before, after, current: api.current(),
           slider: el.querySelector(".bpv-slider").max };
}"""


def test_the_viewer_draws_a_recording_that_grows_step_by_step(open_page, article):
    h, path, _ = article
    s = open_page(path)
    r = s.page.evaluate(GROW, [10, 5])
    assert r["before"] == 10 and r["after"] == 15 and r["slider"] == "14"
    np.testing.assert_array_equal(np.float32(r["current"]["params"]), h.params[14])
    np.testing.assert_array_equal(np.float32(r["current"]["grad"]), h.grads[14])
    assert s.errors == []


def test_the_page_works_inside_an_iframe(open_page, article, tmp_path):
    h, path, _ = article
    host = tmp_path / "post.html"
    host.write_text(f'<!DOCTYPE html><html><body><p>A blog post.</p>'
                    f'<iframe id="f" src="{path.resolve().as_uri()}#step=7" width="1100" height="800"></iframe>'
                    f'</body></html>', encoding="utf-8")
    sess = open_page(path)  # a tab with the network blocked; its context opens the host page too
    p = sess.context.new_page()
    p.goto(host.resolve().as_uri())
    p.frame_locator("#f").locator("html[data-ready='1']").wait_for(timeout=20000)
    f = [fr for fr in p.frames if fr.url.startswith(path.resolve().as_uri())][0]
    assert f.evaluate("window.backpropviz.current().step") == 7
    np.testing.assert_array_equal(np.float32(f.evaluate("window.backpropviz.current().params")), h.params[7])


def test_html_command_writes_a_page_and_refuses_bad_input(cli, tmp_path):
    from clihelpers import one_line_error  # the CLI tests' own check: one stderr line, exit 2

    out = tmp_path / "p.html"
    r = cli("html", "--epochs", "20", "--trace-steps", "5", "--out", out)
    assert r.code == 0, r.err
    assert out.is_file() and out.stat().st_size > 50_000
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and 'id="bpv-data"' in text
    for args, words in [
        (("--out", tmp_path / "p.txt"), "--out must end in .html"),
        (("--out", out, "--trace-steps", "-1"), "--trace-steps"),
        (("--out", out, "--surface-resolution", "3"), "--surface-resolution"),
    ]:
        before = out.read_bytes()
        r = cli("html", "--epochs", "5", *args)
        one_line_error(r, words)
        assert out.read_bytes() == before  # nothing replaced
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    one_line_error(cli("html", bad, "--out", tmp_path / "q.html"), "bad.npz")
    assert not (tmp_path / "q.html").exists()
    assert not list(tmp_path.glob(".*tmp"))


def test_a_diverged_or_interrupted_history_gets_a_page_that_says_where_it_stopped(open_page, tmp_path):
    h = train(RunConfig(epochs=50))
    diverged = History(h.params[:31], h.grads[:30], h.loss[:30], h.epoch[:30], h.param_names, h.X, h.y,
                       h.config, status="diverged")
    path = write_page(page_data(diverged), tmp_path / "d.html")
    s = open_page(path)
    assert "diverged at step 30" in s.js("document.querySelector('.bpv-notes').innerText")
    interrupted = History(h.params[:13], h.grads[:12], h.loss[:12], h.epoch[:12], h.param_names, h.X, h.y,
                          h.config, status="interrupted at step 12")
    s = open_page(write_page(page_data(interrupted), tmp_path / "i.html"))
    assert "interrupted after step 11" in s.js("document.querySelector('.bpv-notes').innerText")
    broken = History(h.params.copy(), h.grads, h.loss, h.epoch, h.param_names, h.X, h.y, h.config)
    broken.params[20:] = np.nan
    from backpropviz.errors import BackpropvizError

    with pytest.raises(BackpropvizError, match="not finite from row 20"):
        page_data(broken)


def test_the_articles_page_fits_its_size_budget(article):
    # issue #10: at most 1 MB in English, 1.5 MB with the Japanese font (every page carries the font)
    h, en, ja = article
    assert en.stat().st_size <= 1_000_000, en.stat().st_size
    assert ja.stat().st_size <= 1_500_000, ja.stat().st_size


FORWARD = """async ([k, X]) => {
  const { forward } = await import("bpv/model.js");
  const api = window.backpropviz;
  api.go(k);
  const page = JSON.parse(document.getElementById("bpv-data").textContent);
  const pts = Float64Array.from(X.flat());
  const { Recording } = await import("bpv/recording.js");
  const rec = Recording.fromPage(page);
  return Array.from(forward(page.run.model, rec.params(k), pts, X.length).out);
}"""


@pytest.mark.parametrize("which", ["article", "moons", "regression", "iris"])
def test_the_browsers_forward_pass_is_the_models(open_page, article, moons, tmp_path, which):
    """The boundary view recomputes the model in the browser: it must be the model PyTorch ran."""
    from backpropviz.train import predict

    if which == "article":
        h, path = article[0], article[1]
    elif which == "moons":
        h, path = moons
    else:
        run = (dict(data="reg-gauss", model="mlp:8", loss="mse", optimizer="adam", lr=0.02, epochs=30) if which == "regression"
               else dict(data="iris", model="mlp:6", loss="ce", optimizer="adam", lr=0.05, epochs=30))
        h = train(RunConfig(**run))
        path = write_page(page_data(h, trace_steps=3), tmp_path / f"{which}.html")
    s = open_page(path)
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 7), np.linspace(-1.5, 1.5, 5)), -1).reshape(-1, 2)
    for k in (0, h.n_steps // 2, h.n_steps - 1):
        got = np.array(s.page.evaluate(FORWARD, [k, grid.tolist()]))
        ref = predict(h, k, grid.astype(np.float32)).reshape(len(grid), -1)
        np.testing.assert_allclose(got.reshape(ref.shape), ref, rtol=2e-5, atol=2e-6)
    if which == "regression":
        note = s.js("document.querySelector('.bpv-view-boundary .bpv-note').textContent")
        assert "predicted value" in note
        assert s.js("document.querySelector('.bpv-view-boundary h2').textContent") == "Data and prediction"
    assert s.errors == []


def test_palette_cvd_draws_the_pages_maps_in_cividis(open_page, tmp_path, cli):
    out = tmp_path / "cvd.html"
    assert cli("html", "--epochs", "20", "--trace-steps", "3", "--palette", "cvd", "--out", out).code == 0
    s = open_page(out)
    got = s.page.evaluate("""async () => { const c = await import("bpv/canvas.js");
      return [c.colour("prob", 0), c.colour("viridis", 1)]; }""")
    assert got == [[0, 34, 78], [254, 232, 56]]  # cividis's ends, for the probability and the loss maps
    plain = open_page(write_page(page_data(train(RunConfig(epochs=20)), trace_steps=3), tmp_path / "plain.html"))
    assert plain.page.evaluate("""async () => (await import("bpv/canvas.js")).colour("viridis", 0)""") == [68, 1, 84]
