"""Views of a recording of the user's own loop: the figures and the page show the recording's numbers.

The recording is made by an ordinary hand-written loop (a small convolutional network) that also
keeps, itself, every step's loss, every state's parameters and every step's gradients. The
figures' plotted data (read back from the matplotlib artists) and the page's readouts are
compared against those, computed independently in numpy (and the PCA plane against
scikit-learn's PCA).
"""

import json

import numpy as np
import pytest
import torch

import backpropviz
from clihelpers import one_line_error

STEPS = 37          # not a multiple of the snapshot spacing: the last state is saved anyway
EVERY = 10
SNAPSHOTS = [0, 10, 20, 30, 37]


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 3, 3)
        self.fc = torch.nn.Linear(3 * 6 * 6, 8)
        self.out = torch.nn.Linear(8, 3)

    def forward(self, x):
        return self.out(torch.relu(self.fc(torch.relu(self.conv(x)).flatten(1))))


LAYERS = ["conv", "fc", "out"]


def train(path, steps=STEPS, *, stop_after=None, **kw):
    """The loop, recorded into ``path``; returns what the loop itself saw. ``stop_after``: return
    from inside the ``with`` block after that many steps (the recording still being written)."""
    torch.manual_seed(0)
    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)
    X, y = torch.randn(48, 1, 8, 8), torch.randint(0, 3, (48,))
    seen = {"loss": [], "states": [], "grads": []}
    flat = lambda ts: torch.cat([t.detach().reshape(-1) for t in ts]).double().numpy().copy()  # noqa: E731
    rec = backpropviz.record(model, opt, path, steps=steps, snapshots=backpropviz.every(EVERY), projection=8, **kw)
    rec.__enter__()
    seen["states"].append(flat(model.parameters()))
    for t in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        seen["grads"].append(flat(p.grad for p in model.parameters()))
        opt.step()
        rec.step(loss)
        seen["loss"].append(loss.item())
        seen["states"].append(flat(model.parameters()))
        if stop_after is not None and t + 1 == stop_after:
            seen["recorder"] = rec  # left open: the caller reads the folder while it is being written
            break
    else:
        rec.__exit__(None, None, None)
    seen["columns"] = {name: np.concatenate([np.arange(p.numel()) + off for off, p in _offsets(model, name)])
                       for name in LAYERS}
    return {k: (np.array(v) if k in ("loss", "states", "grads") else v) for k, v in seen.items()}


def _offsets(model, layer):
    off = 0
    for name, p in model.named_parameters():
        if name.split(".")[0] == layer:
            yield off, p
        off += p.numel()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    path = tmp_path_factory.mktemp("rec") / "run"
    seen = train(path)
    return backpropviz.load_recording(path), seen


def layer_norms(flat_rows, cols):
    return np.stack([np.linalg.norm(flat_rows[:, cols[name]], axis=1) for name in LAYERS], axis=1)


def test_loss_figure_plots_the_loss_the_loop_computed_at_every_step(recorded):
    from backpropviz.render.layerstats import RecordingLossDisplay

    rec, seen = recorded
    d = RecordingLossDisplay.from_recording(rec, lang="en")
    np.testing.assert_array_equal(d.line_.get_xdata(), np.arange(STEPS))
    np.testing.assert_allclose(d.line_.get_ydata(), seen["loss"], rtol=1e-7)


def test_layer_figure_plots_gradient_norms_and_update_ratios_computed_in_the_loop(recorded):
    from backpropviz.render.layerstats import LayerScalarsDisplay

    rec, seen = recorded
    d = LayerScalarsDisplay.from_recording(rec, lang="en")
    grad = layer_norms(seen["grads"], seen["columns"])
    update = layer_norms(np.diff(seen["states"], axis=0), seen["columns"])
    weight = layer_norms(seen["states"][:-1], seen["columns"])
    assert [line.get_label() for line in d.grad_lines_] == LAYERS
    for j in range(len(LAYERS)):
        np.testing.assert_allclose(d.grad_lines_[j].get_ydata(), grad[:, j], rtol=1e-5)
        np.testing.assert_allclose(d.ratio_lines_[j].get_ydata(), update[:, j] / weight[:, j], rtol=1e-4)
    assert d.guide_.get_ydata()[0] == 1e-3
    assert all(ax.get_yscale() == "log" for ax in d.axes_)


def test_distributions_show_every_snapshot_from_step_0_to_the_last_with_the_loops_quantiles(recorded):
    from backpropviz.render.layerstats import DistributionDisplay

    rec, seen = recorded
    assert rec.snapshot_steps == SNAPSHOTS
    for kind in ("weights", "grads"):
        d = DistributionDisplay.from_recording(rec, kind, lang="ja")
        for j, name in enumerate(LAYERS):
            med = d.medians_[j]
            np.testing.assert_array_equal(med.get_xdata(), SNAPSHOTS)  # 0 and 37 both there
            cols = seen["columns"][name]
            for i, s in enumerate(SNAPSHOTS):
                if kind == "weights":
                    values = seen["states"][s][cols]
                elif s < STEPS:
                    values = seen["grads"][s][cols]
                else:  # the last state: no step was taken from it, so no gradient
                    assert np.isnan(med.get_ydata()[i])
                    continue
                assert med.get_ydata()[i] == pytest.approx(np.median(values), rel=1e-5, abs=1e-9)
                lo, hi = d.extremes_[j]
                assert lo.get_ydata()[i] == pytest.approx(values.min(), rel=1e-5)
                assert hi.get_ydata()[i] == pytest.approx(values.max(), rel=1e-5)


def test_path_figure_is_the_snapshots_on_their_pca_plane(recorded):
    from sklearn.decomposition import PCA

    from backpropviz.render.layerstats import SnapshotPathDisplay

    rec, seen = recorded
    d = SnapshotPathDisplay.from_recording(rec, lang="en")
    assert d.path.source == "snapshots"
    ref = PCA(n_components=2).fit_transform(seen["states"][SNAPSHOTS])
    got = d.line_.get_xydata()
    for j in range(2):
        sign = np.sign(got[-1, j]) * np.sign(ref[-1, j])
        np.testing.assert_allclose(got[:, j], sign * ref[:, j], rtol=1e-3, atol=1e-6 * np.abs(ref).max())
    labels = [m.get_text() for m in d.marks_]
    assert labels[0] == "step 0" and labels[-1] == f"step {STEPS}"


def test_path_of_the_snapshots_is_streamed_a_block_at_a_time_and_equals_pca_of_the_stacked_states(
        tmp_path, monkeypatch):
    import tracemalloc

    from sklearn.decomposition import PCA

    from backpropviz.analysis import recording_views
    from backpropviz.errors import BackpropvizError

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(100, 200), torch.nn.Tanh(), torch.nn.Linear(200, 3))  # 20,803
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    X, y = torch.randn(64, 100), torch.randint(0, 3, (64,))
    states = []
    with backpropviz.record(model, opt, tmp_path / "r", snapshots=backpropviz.every(2)):
        for t in range(24):
            if t % 2 == 0:
                states.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy())
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(X), y).backward()
            opt.step()
        states.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double().numpy())
    stacked = np.stack(states)  # (13, 20803): what the path used to hold
    rec = backpropviz.load_recording(tmp_path / "r")
    block = 13 * 8 * 4000  # 4,000 columns a block: 6 blocks, the last one of 803
    monkeypatch.setattr(recording_views, "GRAM_BLOCK_BYTES", block)
    tracemalloc.start()
    path = recording_views.SnapshotPath.of(rec)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert path.source == "snapshots" and path.steps.tolist() == list(range(0, 25, 2))
    assert peak < 2 * block < stacked.nbytes / 2.5, peak  # a block (and numpy's small change), not K x P
    ref = PCA(n_components=2)
    ref_coords = ref.fit_transform(stacked)
    for j in range(2):
        sign = np.sign(path.coords[-1, j]) * np.sign(ref_coords[-1, j])
        np.testing.assert_allclose(path.coords[:, j], sign * ref_coords[:, j], rtol=1e-6,
                                   atol=1e-9 * np.abs(ref_coords).max())
    np.testing.assert_allclose(path.explained, ref.explained_variance_ratio_, rtol=1e-6)
    coords, explained = recording_views.pca_plane(stacked)  # the SVD of the stacked states, same signs
    np.testing.assert_allclose(path.coords, coords, rtol=1e-6, atol=1e-9 * np.abs(coords).max())
    np.testing.assert_allclose(path.explained, explained, rtol=1e-9)
    cut = tmp_path / "r" / "snapshots" / f"{4:012d}.params.npy"
    cut.write_bytes(cut.read_bytes()[:1000])
    with pytest.raises(BackpropvizError, match="the snapshot of step 4 cannot be read") as info:
        recording_views.SnapshotPath.of(backpropviz.load_recording(tmp_path / "r"))
    assert "\n" not in str(info.value)


def test_path_falls_back_to_the_projection_when_snapshots_are_few(tmp_path):
    from backpropviz.analysis.recording_views import SnapshotPath, pca_plane

    torch.manual_seed(1)
    model = torch.nn.Linear(5, 2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with backpropviz.record(model, opt, tmp_path / "r", projection=4) as rec:
        for _ in range(9):
            opt.zero_grad()
            model(torch.randn(8, 5)).pow(2).mean().backward()
            opt.step()
    r = backpropviz.load_recording(tmp_path / "r")
    assert r.snapshot_steps == [0, 9]
    path = SnapshotPath.of(r)
    assert path.source == "projection" and list(path.steps) == list(range(10))
    np.testing.assert_allclose(path.coords, pca_plane(r.projection)[0])


def test_findings_name_a_dead_layer_and_a_frozen_one_with_what_was_measured(tmp_path):
    from backpropviz.render.layerstats import LayerScalarsDisplay

    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.dead = torch.nn.Linear(4, 4)
            self.frozen = torch.nn.Linear(4, 4)
            self.frozen.requires_grad_(False)
            self.head = torch.nn.Linear(4, 1)

        def forward(self, x):  # relu(. - 1e6) is 0 everywhere: no gradient reaches `dead`
            return self.head(self.frozen(x) + torch.relu(self.dead(x) - 1e6))

    torch.manual_seed(0)
    model = Odd()
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    with backpropviz.record(model, opt, tmp_path / "r") as rec:
        for _ in range(12):
            opt.zero_grad()
            loss = model(torch.randn(16, 4)).pow(2).mean()
            loss.backward()
            opt.step()
            rec.step(loss)
    d = LayerScalarsDisplay.from_recording(backpropviz.load_recording(tmp_path / "r"), lang="en")
    kinds = {f.layer: f.kind for f in d.findings}
    assert kinds == {"dead": "dead", "frozen": "frozen"}
    assert "dead: dead, its gradient is exactly 0 in 100% of the steps" in d.note_text_
    assert "frozen: no gradient at any of the 12 steps" in d.note_text_


def test_plot_writes_the_figures_of_a_recording_in_en_and_ja(cli, recorded, tmp_path, drawn):
    rec, _ = recorded
    for lang in ("en", "ja"):
        r = cli("plot", rec.path, "--out", tmp_path / lang, "--lang", lang)
        assert r.code == 0, r
        assert sorted(p.name for p in (tmp_path / lang).iterdir()) == sorted(
            f"{n}.png" for n in ("loss", "layers", "weights", "grads", "path"))
    ja_titles = [fig._suptitle.get_text() if fig._suptitle else fig.axes[0].get_title() for fig in drawn[5:]]
    assert "記録した学習の損失" in ja_titles[0] and "層ごと" in ja_titles[1]


def test_plot_and_html_refuse_what_is_not_a_readable_recording(cli, recorded, tmp_path):
    import shutil

    rec, _ = recorded
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(cli("plot", empty, "--out", tmp_path / "o1"), "is a folder, not a recording", "meta.json")
    one_line_error(cli("html", empty, "--out", tmp_path / "p.html"), "not a recording")
    started = tmp_path / "started"  # meta.json only: the loop had not flushed a step
    started.mkdir()
    shutil.copy(rec.path / "meta.json", started / "meta.json")
    one_line_error(cli("plot", started, "--out", tmp_path / "o2"), "no steps yet")
    cut = tmp_path / "cut"  # a snapshot cut short (not what the recorder writes, but a disk may)
    shutil.copytree(rec.path, cut)
    victim = sorted((cut / "snapshots").glob("*.params.npy"))[-1]
    victim.write_bytes(victim.read_bytes()[:100])
    one_line_error(cli("plot", cut, "--out", tmp_path / "o3"), "cannot be read")
    one_line_error(cli("html", cut, "--out", tmp_path / "p3.html"), "cannot be read")
    assert not any((tmp_path / n).exists() for n in ("o1", "o2", "o3", "p.html", "p3.html"))


def _number(text):
    return float(text.replace("−", "-"))


def test_html_page_of_a_recording_shows_its_numbers_at_every_step_asked(cli, open_page, recorded, tmp_path):
    rec, seen = recorded
    page = tmp_path / "rec.html"
    assert cli("html", rec.path, "--out", page, "--lang", "ja").code == 0
    data = json.loads(page.read_text().split('id="bpv-data">')[1].split("</script>")[0])
    assert data["views"] == ["loss", "layers", "dists", "snappath"]
    assert {o["view"] for o in data["omitted"]} == {"boundary"}
    s = open_page(page)
    assert s.js("window.backpropviz.steps()") == STEPS
    grad = layer_norms(seen["grads"], seen["columns"])
    for k in (0, 9, 10, 23, STEPS - 1):
        s.js(f"window.backpropviz.go({k})")
        cur = s.js("window.backpropviz.current()")
        assert cur["step"] == k
        assert cur["loss"] == pytest.approx(seen["loss"][k], rel=1e-6)
        snap = max(x for x in SNAPSHOTS if x <= k)
        card = ".bpv-view-dists .bpv-body"
        assert s.js(f"document.querySelector('{card}').dataset.snapshot") == str(snap)
        medians = s.js(f"""Array.from(document.querySelectorAll('{card} tr[data-layer]')).map(
            (tr) => tr.querySelectorAll('td[data-kind=weights]')[1].textContent)""")
        for name, text in zip(LAYERS, medians):
            assert _number(text) == pytest.approx(np.median(seen["states"][snap][seen["columns"][name]]), rel=1e-3)
        legend = s.js("""Array.from(document.querySelectorAll('.bpv-view-layers .bpv-rec-rec_grad_norm .u-legend .u-value'))
            .map((e) => e.textContent)""")
        for j in range(len(LAYERS)):
            assert _number(legend[1 + j]) == pytest.approx(grad[k, j], rel=1e-3)
        state = s.js("document.querySelector('.bpv-view-snappath .bpv-body').dataset.state")
        assert state == str(snap)
    assert "ステップ" in s.js("document.querySelector('.bpv-readout').textContent")
    assert s.errors == []


def test_a_recording_still_being_written_renders_what_was_flushed(cli, open_page, tmp_path, drawn):
    from backpropviz.render.layerstats import RecordingLossDisplay

    path = tmp_path / "live"
    seen = train(path, stop_after=25, chunk_rows=10, flush_seconds=3600)
    try:
        rec = backpropviz.load_recording(path)
        assert not rec.complete
        flushed = len(rec.rows)
        assert flushed == 20  # two whole chunks of 10 rows; the third is still in memory
        d = RecordingLossDisplay.from_recording(rec, lang="en")
        np.testing.assert_allclose(d.line_.get_ydata(), seen["loss"][:flushed], rtol=1e-7)
        assert "still running" in d.ax_.get_title()
        assert cli("plot", path, "--out", tmp_path / "figs").code == 0
        assert (tmp_path / "figs" / "weights.png").exists()
        page = tmp_path / "live.html"
        assert cli("html", path, "--out", page).code == 0
        s = open_page(page)
        assert s.js("window.backpropviz.steps()") == flushed
        s.js(f"window.backpropviz.go({flushed - 1})")
        assert s.js("window.backpropviz.current()")["loss"] == pytest.approx(seen["loss"][flushed - 1], rel=1e-6)
        notes = s.js("document.querySelector('.bpv-notes').textContent")
        assert f"the {flushed} steps flushed" in notes
        assert s.errors == []
    finally:
        seen["recorder"].__exit__(None, None, None)


def test_findings_flag_too_large_a_learning_rate_with_the_median_ratio_measured(tmp_path):
    from backpropviz.analysis.recording_views import diagnose, LayerSeries

    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.SGD(model.parameters(), lr=2.0)
    X, y = torch.randn(32, 3), torch.randn(32, 1)
    before, ratios = [], []
    with backpropviz.record(model, opt, tmp_path / "r"):
        for _ in range(15):
            w = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
            opt.zero_grad()
            torch.nn.functional.mse_loss(model(X), y).backward()
            opt.step()
            after = torch.cat([p.detach().reshape(-1) for p in model.parameters()]).double()
            ratios.append(float((after - w).norm() / w.norm()))
    found = diagnose(LayerSeries.of(backpropviz.load_recording(tmp_path / "r")))
    large = [f for f in found if f.kind == "ratio_large"]
    assert len(large) == 1 and large[0].layer == ""
    assert large[0].value == pytest.approx(np.median(ratios), rel=1e-4)


def early_loop(path, lr_start, lr, steps=100, hot=3):
    """A classifier trained with ``lr_start`` for its first ``hot`` steps, then ``lr``; returns each
    step's per-layer gradient norms (layers 0 and 2) as the loop computes them, in float64."""
    torch.manual_seed(0)
    X = torch.randn(256, 10)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    opt = torch.optim.SGD(model.parameters(), lr=lr_start)
    norms = []
    with backpropviz.record(model, opt, path) as rec:
        for t in range(steps):
            opt.param_groups[0]["lr"] = lr_start if t < hot else lr
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model(X), y)
            loss.backward()
            norms.append([float(torch.cat([p.grad.double().reshape(-1) for p in layer.parameters()]).norm())
                          for layer in (model[0], model[2])])
            opt.step()
            rec.step(loss)
    return np.array(norms)


def test_findings_catch_an_early_explosion_of_the_gradient_that_then_stays_up(tmp_path):
    from backpropviz.render.layerstats import LayerScalarsDisplay

    norms = early_loop(tmp_path / "r", lr_start=50.0, lr=1e-3)  # too large for 3 steps, then small
    first, last = np.median(norms[:10], axis=0), np.median(norms[-10:], axis=0)
    assert (norms[:10].max(axis=0) / norms[0] > 100).all() and (last / first < 2).all()  # the tenths see no growth
    d = LayerScalarsDisplay.from_recording(backpropviz.load_recording(tmp_path / "r"), lang="en")
    early = {f.layer: f for f in d.findings if f.kind.startswith("exploding")}
    assert sorted(early) == ["0", "2"] and {f.kind for f in early.values()} == {"exploding_early"}
    for j, layer in enumerate(["0", "2"]):
        assert early[layer].value == pytest.approx(norms[:10, j].max() / norms[0, j], rel=1e-4)
        assert early[layer].step == int(np.argmax(norms[:10, j]))
    assert f"0: early explosion, the gradient norm rose to {early['0'].value:,.0f} times its first step's by " \
           f"step {early['0'].step}: the learning rate is likely too large" in " ".join(d.note_text_.split())
    ja = LayerScalarsDisplay.from_recording(backpropviz.load_recording(tmp_path / "r"), lang="ja")
    assert "序盤の勾配爆発" in ja.note_text_


def test_findings_of_a_healthy_run_name_no_explosion(tmp_path):
    from backpropviz.analysis.recording_views import LayerSeries, diagnose

    norms = early_loop(tmp_path / "r", lr_start=0.03, lr=0.03)
    assert norms.max(axis=0).max() / norms[0].min() < 5
    assert diagnose(LayerSeries.of(backpropviz.load_recording(tmp_path / "r"))) == []


def test_early_explosion_is_the_largest_of_the_first_norms_over_the_first():
    from backpropviz.analysis.recording_views import early_explosion

    assert early_explosion([0.5, 60.0, 80.0, 79.0, 80.0]) == (2, 160.0)   # jumps, then stays up
    assert early_explosion([0.5, 1.0, 70.0, 0.6, 0.5]) == (2, 140.0)      # a burst that falls back
    assert early_explosion([0.5, 1.0, 5.0, 20.0, 45.0]) is None           # 90x: not over 100x
    assert early_explosion([0.0, 1.0, 500.0]) is None                     # nothing to compare with
    assert early_explosion([np.nan, 1.0, 500.0]) is None
    assert early_explosion([1.0, np.nan, 300.0]) == (2, 300.0)            # a step without a gradient skipped
    assert early_explosion([1.0]) is None


def test_animate_a_recording_moves_every_panel_to_the_frames_step(cli, recorded, tmp_path):
    from PIL import Image

    from backpropviz.render.layerstats import RecordingScene

    rec, seen = recorded
    scene = RecordingScene(rec, lang="en")
    for row in (0, 14, 30, STEPS):
        scene.update(row)
        assert all(list(c.get_xdata()) == [row, row] for c in scene.cursors_)
        snap = max(s for s in SNAPSHOTS if s <= row)
        assert scene.snap_label_.get_text() == f"snapshot {snap}"
        for j, name in enumerate(LAYERS):
            scale, _, _, med, _, _ = scene.boxes_["weights"][j]
            values = seen["states"][:, seen["columns"][name]][SNAPSHOTS]
            assert scale == pytest.approx(np.abs(values).max(), rel=1e-6)
            assert med.get_xdata()[0] == pytest.approx(np.median(seen["states"][snap][seen["columns"][name]]) / scale,
                                                       rel=1e-5, abs=1e-9)
        assert scene.no_grad_.get_visible() == (row == STEPS)
        i = SNAPSHOTS.index(snap)
        assert list(scene.marker_.get_xydata()[0]) == pytest.approx(list(scene.path.coords[i]))
    r = cli("animate", rec.path, "--out", tmp_path / "a", "--frames", "6", "--lang", "ja")
    assert r.code == 0, r
    with Image.open(tmp_path / "a" / "recording.gif") as gif:
        assert gif.n_frames == 6
    one_line_error(cli("animate", rec.path, "--views", "overview", "--out", tmp_path / "b"), "--views")


def test_page_draws_a_gradient_norm_far_below_1e_16_without_console_errors(cli, open_page, tmp_path):
    class Faint(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.faint = torch.nn.Linear(3, 1)
            self.head = torch.nn.Linear(3, 1)

        def forward(self, x):  # the faint layer's gradient is 1e-20 times the head's, about
            return self.head(x) + 1e-20 * self.faint(x)

    torch.manual_seed(0)
    model = Faint()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    X, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    model.double()
    with backpropviz.record(model, opt, tmp_path / "r") as rec:
        for _ in range(6):
            opt.zero_grad()
            loss = torch.nn.functional.mse_loss(model(X), y)
            loss.backward()
            opt.step()
            rec.step(loss)
    r = backpropviz.load_recording(tmp_path / "r")
    names, q = r.layer_scalars()
    assert q["grad_norm"][:, names.index("faint")].max() < 1e-18
    assert cli("html", tmp_path / "r", "--out", tmp_path / "p.html").code == 0
    s = open_page(tmp_path / "p.html")
    s.js("window.backpropviz.go(3)")
    legend = s.js("""Array.from(document.querySelectorAll('.bpv-view-layers .bpv-rec-rec_grad_norm .u-legend .u-value'))
        .map((e) => e.textContent)""")
    for j, name in enumerate(names):
        assert _number(legend[1 + j]) == pytest.approx(q["grad_norm"][3, j], rel=1e-3)
    assert s.errors == []
