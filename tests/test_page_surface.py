"""The surface views in a real browser: the point and the two update arrows they display are the
history's own numbers projected onto the plane (computed here with numpy, from the history and from
analysis.landscape's directions), they move with the step, the notes say what the plane holds fixed
and the faithfulness verdict analysis.landscape gives (in English and Japanese), dragging rotates
the 3D view without redrawing it per step, and a click on the 2D path jumps the page."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from backpropviz.analysis import landscape as ls
from backpropviz.config import RunConfig
from backpropviz.i18n import CATALOGUE
from backpropviz.train import train
from backpropviz.web.pack import decode, encode, page_data
from backpropviz.web.page import write_page
from pagehelpers import MOONS, build_page  # the browser fixtures live in conftest.py

VIEWS = "#views=surface,surface3d"
ROOT = ".bpv-view-surface .bpv-surface"
ROOT3D = ".bpv-view-surface3d .bpv-surface3d"


def surface_page(tmp_path_factory, name, **run):
    """A page without the autograd trace (the surface views do not read it; tracing 1000 steps
    would take most of this file's time)."""
    h = train(RunConfig(**run))
    out = tmp_path_factory.mktemp("pages") / f"{name}.html"
    page = page_data(h, trace_steps=0)
    write_page(page, out)
    PAGES[name] = page
    return out, h


PAGES: dict = {}  # the page data of each page built here, for tests that change it


@pytest.fixture(scope="module")
def article(tmp_path_factory):
    return surface_page(tmp_path_factory, "article")


@pytest.fixture(scope="module")
def moons(tmp_path_factory):
    # 150 epochs (750 steps) of the bench's moons run: the same kind of run, half the training time;
    # render speed is measured by bench/bench_page.py, not here.
    return surface_page(tmp_path_factory, "moons", **{**MOONS, "epochs": 150})


def js_fmt(v: float, digits: int = 4) -> str:
    """format.js's fmt for numbers between 1e-4 and 1e5: significant digits, a real minus sign."""
    v = float(v)
    assert v == 0 or 1e-4 <= abs(v) < 1e5, v
    text = "0" if v == 0 else repr(float(f"{v:.{digits}g}"))
    text = text[:-2] if text.endswith(".0") else text
    return "0" if text in ("-0", "0") else text.replace("-", "−")


def shown(s, k):
    """Step k's displayed numbers: point, the two arrows (as data attributes), the notes."""
    s.js(f"window.backpropviz.go({k})")
    got = s.js(f"""() => {{ const r = document.querySelector('{ROOT}'); const d = r.dataset;
      const num = (t) => t.split(',').map(Number);
      return {{ step: Number(d.step), point: num(d.point), sgd: num(d.sgdArrow), update: num(d.updateArrow),
        scale: Number(d.arrowScale), same: d.arrowsCoincide === 'true',
        fixed: r.querySelector('.bpv-surface-fixed').textContent,
        losses: r.querySelector('.bpv-surface-losses').textContent,
        verdict: r.querySelector('.bpv-surface-verdict').dataset.verdict,
        verdictText: r.querySelector('.bpv-surface-verdict').textContent,
        plane: (r.querySelector('.bpv-surface-plane') || {{}}).textContent || '',
        legend: r.querySelector('.bpv-surface-legend').textContent }}; }}""")
    assert got["step"] == k
    return got


def step_lr(h, k):
    return float(h.lr[k]) if h.lr is not None else float(h.config["lr"])


def prefix(key, lang):
    """A catalogue text up to its first field: what the page must show word for word."""
    return CATALOGUE[key][lang].split("{")[0]


def test_article_point_arrows_and_notes_are_the_histories(article, open_page):
    path, h = article
    land = ls.plane(h, "params", resolution=5, progress=False)  # the verdict does not depend on the window
    verdict = land.fidelity()[0]
    (b_name, b_final), = land.config["fixed"].items()
    assert b_name == "b"
    s = open_page(path, hash_=VIEWS)
    points = []
    for k in (0, 12, 400, h.n_steps - 1):
        got = shown(s, k)
        p, g = h.params[k].astype(np.float64), h.grads[k].astype(np.float64)
        np.testing.assert_allclose(got["point"], p[:2], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got["sgd"], -step_lr(h, k) * g[:2], rtol=1e-5, atol=1e-9)
        np.testing.assert_allclose(got["update"], h.params[k + 1][:2].astype(np.float64) - p[:2], rtol=1e-4, atol=1e-8)
        assert got["same"], "plain SGD: the update is -lr x gradient"
        assert prefix("page_surface_arrows_same_sgd", "en")[:20] in s.js(f"document.querySelector('{ROOT} .bpv-surface-arrows').textContent")
        assert got["fixed"] == CATALOGUE["page_surface_fixed_one"]["en"].format(
            name="b", value=js_fmt(b_final), now=js_fmt(p[2])), got["fixed"]
        assert got["verdict"] == verdict
        assert got["verdictText"].startswith(prefix(f"page_surface_verdict_{verdict}", "en"))
        assert "batch loss" not in got["losses"]  # full batch: the batch loss is the whole set's
        assert js_fmt(land.set_loss[k]) in got["losses"]
        heights = s.js(f"Object.assign({{}}, document.querySelector('{ROOT3D}').dataset)")
        assert heights["step"] == str(k)
        np.testing.assert_allclose(float(heights["planeLoss"]), land.path_loss[k], rtol=1e-4)
        np.testing.assert_allclose(float(heights["wholeLoss"]), land.set_loss[k], rtol=1e-4)
        points.append(got["point"])
    assert len({tuple(p) for p in points}) == len(points), "the point moves with the step"
    text = s.js(f"document.querySelector('{ROOT}').textContent + document.querySelector('{ROOT3D}').textContent")
    assert "surface_" not in text and "surface3d_" not in text, "a text key shown bare"
    # the same notes in Japanese
    s.js("window.backpropviz.lang('ja')")
    got = shown(s, 12)
    assert got["fixed"] == CATALOGUE["page_surface_fixed_one"]["ja"].format(
        name="b", value=js_fmt(b_final), now=js_fmt(h.params[12][2]))
    assert got["verdictText"].startswith(prefix(f"page_surface_verdict_{verdict}", "ja"))
    assert "更新" in got["legend"] and "Plain" not in got["legend"]
    assert not s.errors, s.errors


def test_moons_pca_projection_of_point_and_arrows(moons, open_page):
    path, h = moons
    land = ls.plane(h, "pca", resolution=5, progress=False)
    D, origin = land.directions.astype(np.float64), land.origin.astype(np.float64)
    gram = D @ D.T

    def proj(v):
        return np.linalg.solve(gram, D @ v)

    s = open_page(path, hash_=VIEWS)
    span = np.ptp(land.path, axis=0)
    points = []
    for k in (0, 40, 700, h.n_steps - 1):
        got = shown(s, k)
        p = h.params[k].astype(np.float64)
        np.testing.assert_allclose(got["point"], proj(p - origin), rtol=0, atol=1e-4 * span.max())
        sgd = proj(-step_lr(h, k) * h.grads[k].astype(np.float64))
        upd = proj(h.params[k + 1].astype(np.float64) - p)
        np.testing.assert_allclose(got["sgd"], sgd, rtol=1e-3, atol=1e-4 * np.abs(sgd).max())
        np.testing.assert_allclose(got["update"], upd, rtol=1e-3, atol=1e-4 * np.abs(upd).max())
        assert not got["same"], "Adam's update is not -lr x gradient"
        drawn = max(np.hypot(*sgd), np.hypot(*upd))
        assert got["scale"] >= 1 and (got["scale"] == 1 or drawn * got["scale"] > 0), got["scale"]
        if got["scale"] > 1:
            assert f"× {got['scale']:g}" in got["legend"].replace("−", "-")
        assert got["verdict"] == land.fidelity()[0]
        assert got["verdictText"].startswith(prefix(f"page_surface_verdict_{land.fidelity()[0]}", "en"))
        fixed = list(land.config["fixed"])  # the parameters with no component in either direction
        assert len(fixed) > 1, "this run has dead units: their parameters never move"
        assert got["fixed"].startswith(f"{len(fixed)} parameters ({', '.join(fixed[:3])}"), got["fixed"]
        batch = float(h.loss[k])
        if batch >= 1e-4:
            assert f"batch loss: {js_fmt(batch)}" in got["losses"], got["losses"]
        ev = land.explained_variance
        assert f"{round(100 * ev[0])}%" in got["plane"], got["plane"]
        points.append(got["point"])
    assert len({tuple(p) for p in points}) == len(points)
    s.js("window.backpropviz.lang('ja')")
    got = shown(s, 700)
    assert got["verdictText"].startswith(prefix(f"page_surface_verdict_{land.fidelity()[0]}", "ja"))
    assert "バッチの損失" in got["losses"]
    assert not s.errors, s.errors


def test_3d_drag_rotates_and_a_step_redraws_only_the_point(article, open_page):
    path, h = article
    s = open_page(path, hash_=VIEWS)
    rotation = s.js(f"document.querySelector('{ROOT3D}').dataset.rotation")
    canvases = f"[...document.querySelectorAll('{ROOT3D} canvas')].map(c => c.toDataURL())"
    base0, over0 = s.js(canvases)
    s.js("window.backpropviz.go(500)")
    base1, over1 = s.js(canvases)
    assert base1 == base0, "a step change must not redraw the cached surface"
    assert over1 != over0, "the point moves with the step"
    assert s.js(f"document.querySelector('{ROOT3D}').dataset.step") == "500"
    box = s.page.locator(f"{ROOT3D} canvas.bpv-surface3d-overlay").bounding_box()
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.5
    s.page.mouse.move(x, y)
    s.page.mouse.down()
    for i in range(1, 6):
        s.page.mouse.move(x + 16 * i, y + 6 * i)
    s.page.mouse.up()
    s.page.wait_for_timeout(100)
    after = s.js(f"document.querySelector('{ROOT3D}').dataset.rotation")
    assert after != rotation
    az0, el0 = map(float, rotation.split(","))
    az1, el1 = map(float, after.split(","))
    assert az1 != az0 and el1 > el0, (rotation, after)
    assert s.js(canvases)[0] != base0, "the surface is drawn anew for the new rotation"
    assert s.js("window.backpropviz.current().step") == 500, "a drag is not a click"
    assert not s.errors, s.errors


def test_click_on_the_2d_path_jumps_the_page(article, open_page):
    path, h = article
    s = open_page(path, hash_=VIEWS)
    d = s.js(f"Object.assign({{}}, document.querySelector('{ROOT}').dataset)")
    bx, by, bw, bh = map(float, d["box"].split(","))
    x0, x1, y0, y1 = map(float, d["window"].split(","))
    rows = h.params[:, :2].astype(np.float64)
    px = bx + (rows[:, 0] - x0) / (x1 - x0) * bw
    py = by + bh - (rows[:, 1] - y0) / (y1 - y0) * bh
    canvas = s.page.locator(f"{ROOT} canvas.bpv-surface-overlay").bounding_box()
    s.js("window.backpropviz.go(200)")
    rgba = s.js(f"""() => {{ const c = document.querySelector('{ROOT} canvas.bpv-surface-overlay');
      const r = c.width / c.getBoundingClientRect().width;
      return Array.from(c.getContext('2d').getImageData(Math.round({px[200]} * r), Math.round({py[200]} * r), 1, 1).data); }}""")
    assert rgba[3] > 200 and rgba[0] > 180 and rgba[1] < 100 and rgba[2] < 100, rgba  # the red point
    for k in (3, 60):
        cx, cy = round(px[k]), round(py[k])
        expected = int(np.argmin((px - cx) ** 2 + (py - cy) ** 2))
        s.page.mouse.click(canvas["x"] + cx, canvas["y"] + cy)
        assert s.js("window.backpropviz.current().step") == min(expected, h.n_steps - 1)
        assert s.js(f"document.querySelector('{ROOT}').dataset.step") == str(min(expected, h.n_steps - 1))
    # hovering shows the loss of the grid point under the pointer and the nearest step
    s.page.mouse.move(canvas["x"] + px[60], canvas["y"] + py[60])
    tip = s.js("document.querySelector('.bpv-tip').textContent")
    assert "w1" in tip and "step" in tip, tip
    assert not s.errors, s.errors


def test_a_thinned_page_projects_its_kept_steps(article, open_page, tmp_path):
    _, h = article
    path = tmp_path / "thinned.html"
    page = page_data(h, trace_steps=0, max_step_floats=2000)  # 10 floats a step: 200 of 1000 kept
    index = page["steps"]["index"]
    write_page(page, path)
    s = open_page(path, hash_=VIEWS)
    kept = decode(index)
    assert s.js("window.backpropviz.steps()") == len(kept) < h.n_steps
    for j in (1, len(kept) // 2, len(kept) - 1):
        got = shown(s, j)
        step = int(kept[j])
        np.testing.assert_allclose(got["point"], h.params[step][:2], rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(got["update"], h.params[step + 1][:2].astype(np.float64) - h.params[step][:2],
                                   rtol=1e-4, atol=1e-8)
        np.testing.assert_allclose(got["sgd"], -step_lr(h, step) * h.grads[step][:2].astype(np.float64),
                                   rtol=1e-5, atol=1e-9)
    assert not s.errors, s.errors


def test_every_text_the_surface_views_ask_for_is_in_the_catalogue():
    """Keys written out in the two views (and the ones they build from a verdict or an arrow's
    name) exist in English and Japanese, so no view ever shows a bare key."""
    import re
    from pathlib import Path

    from backpropviz.web import page

    keys = set()
    for name in ("surface.js", "surface3d.js"):
        source = (Path(page.STATIC) / "views" / name).read_text(encoding="utf-8")
        keys |= set(re.findall(r'["`](surface3?d?_[a-z0-9_]+)["`]', source))
        keys |= {f"surface_{w}_invisible" for w in ("sgd", "update")} if "_invisible`" in source else set()
        keys |= {f"surface_verdict_{v}" for v in ("faithful", "mostly", "misleading", "construction")} \
            if "surface_verdict_${" in source else set()
    assert len(keys) > 40
    missing = sorted(k for k in keys if f"page_{k}" not in CATALOGUE)
    assert not missing, missing
    for k in keys:
        entry = CATALOGUE[f"page_{k}"]
        assert entry["en"].strip() and entry["ja"].strip(), k
        assert set(re.findall(r"\{(\w+)\}", entry["en"])) == set(re.findall(r"\{(\w+)\}", entry["ja"])), k


def test_steps_recorded_after_the_surface_are_projected_here(article, open_page, tmp_path):
    """A recording that grew past its surface (a live run): later steps are projected by the page
    itself, with their distance from the plane, and no made-up loss on the plane."""
    _, h = article
    page = copy.deepcopy(PAGES["article"])
    surface = page["surface"]
    for name in ("path", "path_loss", "path_residual", "whole_loss"):
        surface[name] = encode(decode(surface[name])[:11])
    path = tmp_path / "short_surface.html"
    write_page(page, path)
    s = open_page(path, hash_=VIEWS)
    b_final = h.params[-1][2]
    for k in (5, 500):
        got = shown(s, k)
        np.testing.assert_allclose(got["point"], h.params[k][:2], rtol=1e-6, atol=1e-7)
        distance = s.js(f"document.querySelector('{ROOT} .bpv-surface-distance').textContent")
        assert js_fmt(abs(h.params[k][2] - b_final), 3) in distance, distance
        heights = s.js(f"Object.assign({{}}, document.querySelector('{ROOT3D}').dataset)")
        if k < 11:
            assert "came after" not in got["losses"]
        else:
            assert got["losses"].startswith(prefix("page_surface_beyond", "en")), got["losses"]
            assert heights["planeLoss"] == "NaN"
            np.testing.assert_allclose(float(heights["wholeLoss"]), decode(page["steps"]["whole_loss"])[k], rtol=1e-6)
    assert not s.errors, s.errors
