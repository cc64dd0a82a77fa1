"""The playground's own data (web/live/datapanel.js, web/uploads.py, data/points.py).

Points drawn by clicking on the input plane in headless Chromium train, and the page's step k
equals ``train()`` with the page's config, bit for bit; the points round-trip through the URL and
through ``backpropviz run --config``. An uploaded CSV file trains and equals ``train()`` on that
file. An oversized, garbage or otherwise unreadable file gets a clear message, and the server
goes on serving.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse

import numpy as np
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from backpropviz.config import RunConfig, config_from_dict  # noqa: E402
from backpropviz.errors import BackpropvizError  # noqa: E402
from backpropviz.web.server import Server  # noqa: E402
from backpropviz.web.uploads import MAX_UPLOAD, Uploads  # noqa: E402
from servehelpers import assert_step_equals, open_playground, page_link, request  # noqa: E402

PLANE = 4.0  # the pad's plane is [-2, 2] on both axes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(port=0, upload_dir=tmp_path_factory.mktemp("uploads")).start()
    yield s
    s.stop()


def click_plane(page, x, y, **options):
    """Click the drawing pad at plane coordinates (x, y), from the pad's own box and plane, once the
    page is idle and laid out (the previous click's answer can move the pad: its error line goes)."""
    page.evaluate("window.backpropviz.idle().then(() => new Promise(r => requestAnimationFrame(() => "
                  "requestAnimationFrame(r))))")
    pad = page.locator("canvas.bpv-live-pad")
    bx, by, bw, bh = map(float, pad.get_attribute("data-box").split(","))
    x0, x1, y0, y1 = map(float, pad.get_attribute("data-plane").split(","))
    pad.click(position={"x": bx + (x - x0) / (x1 - x0) * bw, "y": by + (y1 - y) / (y1 - y0) * bh}, **options)
    return bw


def run_to_end(page, total):
    page.evaluate("window.backpropviz.play()")
    try:
        page.wait_for_function(f"window.backpropviz.steps() === {total} && window.backpropviz.state().state === 'done'",
                               timeout=30000)
    except Exception:
        raise AssertionError(f"the run did not end: {page.evaluate('window.backpropviz.state()')}, "
                             f"{page.evaluate('window.backpropviz.steps()')} steps") from None


def assert_page_equals(page, history, steps):
    assert page.evaluate("window.backpropviz.steps()") == len(history.loss)
    for k in steps:
        assert_step_equals(page, history, k)


# -- drawn points -------------------------------------------------------------------------------

DRAWN = [((-1.2, -0.8), 0, "left"), ((-0.9, -1.3), 0, "left"), ((-1.5, -1.1), 0, "left"),
         ((1.1, 0.9), 1, "right"), ((1.4, 1.3), 1, "right"), ((0.8, 1.5), 1, "right"),
         ((1.3, -1.2), 2, "picked"), ((1.0, -1.6), 2, "picked")]


def test_drawn_points_train_and_the_page_equals_train_bit_for_bit(server, browser, tmp_path, cli):
    from backpropviz.history import History
    from backpropviz.train import train

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&model=mlp:4&lr=0.3&epochs=25&seed=5&speed=0")
        page.select_option("select[name=data]", "points")
        page.evaluate("window.backpropviz.idle()")
        assert page.is_visible("canvas.bpv-live-pad") and not page.is_visible(".bpv-live-upload")
        # No points yet: said, nothing trains.
        assert "needs the points" in page.text_content(".bpv-live-error")
        assert "draw at least two points of two classes" in page.text_content(".bpv-live-points-count")

        # Class 0 with the left button, class 1 with the right one, class 2 picked from the buttons.
        width = None
        for (x, y), _, how in DRAWN:
            if how == "picked" and page.get_attribute(".bpv-live-class[data-class='2']", "aria-pressed") != "true":
                page.click(".bpv-live-class[data-class='2']")
            width = click_plane(page, x, y, button="right" if how == "right" else "left")
        # One more point, removed again with Shift-click; one more, removed with undo.
        click_plane(page, 0.0, 0.0)
        click_plane(page, 0.02, 0.01, modifiers=["Shift"])
        click_plane(page, 0.5, -0.5)
        page.click(".bpv-live-points-undo")
        state = page.evaluate("window.backpropviz.idle()")
        assert state["state"] == "ready" and state["error"] == "", state

        points = page.evaluate("window.backpropviz.settings().points")
        assert [p[2] for p in points] == [c for _, c, _ in DRAWN]
        pixel = PLANE / width  # a click lands within a pixel (whole pixels of a box placed anywhere), kept to 0.01
        for (x, y), (px, py, _) in zip([xy for xy, _, _ in DRAWN], points):
            assert abs(px - x) <= pixel + 0.005 + 1e-9 and abs(py - y) <= pixel + 0.005 + 1e-9
        assert "3 classes" in page.text_content(".bpv-live-points-count")

        config = page.evaluate("window.backpropviz.config()")
        expected = RunConfig(data="points", points=tuple(tuple(p) for p in points), model="mlp:4", lr=0.3,
                             epochs=25, seed=5, loss="ce")  # a third class: the page took cross-entropy
        assert config_from_dict(config) == expected
        run_to_end(page, 25)
        history = train(expected)
        assert_page_equals(page, history, [0, 1, 12, 24])
        np.testing.assert_array_equal(history.X, np.array([p[:2] for p in points], dtype=np.float32))

        # The same run from the page's config with `run --config`.
        (tmp_path / "drawn.json").write_text(json.dumps(config), encoding="utf-8")
        r = cli("run", "--config", tmp_path / "drawn.json", "--save-history", tmp_path / "drawn.npz",
                "--out", tmp_path, "--views", "loss")
        assert r.code == 0, r.err
        saved = History.load(tmp_path / "drawn.npz")
        np.testing.assert_array_equal(saved.params, history.params)
        np.testing.assert_array_equal(saved.grads, history.grads)
        assert errors == []
    finally:
        context.close()


def test_drawn_points_round_trip_through_the_url(server, browser):
    from backpropviz.train import train

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&data=points&model=mlp:3&epochs=10")
        for (x, y), c, _ in DRAWN[:6]:
            click_plane(page, x, y, button="right" if c else "left")
        page.evaluate("window.backpropviz.idle()")
        settings = page.evaluate("window.backpropviz.settings()")
        assert len(settings["points"]) == 6 and "points=" in page_link(page)

        other, other_errors = open_playground(context, page_link(page))
        assert other.evaluate("window.backpropviz.settings()") == settings
        assert other.is_visible("canvas.bpv-live-pad")
        config = config_from_dict(other.evaluate("window.backpropviz.config()"))
        assert config.points == tuple(tuple(p) for p in settings["points"])
        other.evaluate("window.backpropviz.step()")
        other.wait_for_function("window.backpropviz.steps() === 1", timeout=10000)
        history = train(config)
        np.testing.assert_array_equal(np.array(other.evaluate("window.backpropviz.current().grad"), dtype=np.float32),
                                      history.grads[0])
        # Another data set trains without the points; choosing points again brings them back.
        other.select_option("select[name=data]", "moons")
        state = other.evaluate("window.backpropviz.idle()")
        assert state["state"] == "ready" and state["error"] == "", state
        assert other.evaluate("window.backpropviz.settings().points") is None and "points=" not in page_link(other)
        assert not other.is_visible("canvas.bpv-live-pad")
        other.select_option("select[name=data]", "points")
        assert other.evaluate("window.backpropviz.idle()")["state"] == "ready"
        assert other.evaluate("window.backpropviz.settings().points") == settings["points"]
        # Clear: no points, the page says what it needs.
        other.click(".bpv-live-points-clear")
        assert other.evaluate("window.backpropviz.idle()")["state"] == "none"
        assert other.evaluate("window.backpropviz.settings().points") is None
        assert errors == [] and other_errors == []
    finally:
        context.close()


def test_points_in_a_config_are_checked_like_any_setting():
    good = {"data": "points", "points": [[0, 0, 0], [1, 1, 1]]}
    config = config_from_dict(good)
    assert RunConfig.from_json(config.to_json()) == config
    for points, message in [(None, "needs the points"), ([[0, 0, 0]], "at least two points of two classes"),
                            ([[0, 0, 0], [1, 1, 2]], "class 1 has no point"),
                            ([[0, float("nan"), 0], [1, 1, 1]], "finite numbers"),
                            ([[0, 0, 0.5], [1, 1, 1]], "whole number"), ([[0, 0, 0], [1, 1, True]], "whole number"),
                            ([[0, 0]], "must be [x1, x2, class]"), ("0,0,0", "a list of"),
                            ([[0, 0, i % 2] for i in range(5001)], "at most 5000 points")]:
        with pytest.raises(BackpropvizError, match=message.replace("[", r"\[").replace("]", r"\]")):
            config_from_dict({**good, "points": points})
    with pytest.raises(BackpropvizError, match="data must be 'points'"):
        config_from_dict({"data": "moons", "points": good["points"]})


# -- an uploaded CSV file -----------------------------------------------------------------------


def blobs_csv(path, n=40, seed=0):
    rng = np.random.default_rng(seed)
    lines = ["a,name,b,label"]
    for i in range(n):
        c = i % 2
        a, b = rng.normal(1.5 * c, 0.6), rng.normal(-c, 0.6)
        lines.append(f"{a:.4f},row{i},{b:.4f},{'yes' if c else 'no'}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_an_uploaded_csv_trains_and_equals_train_on_that_file(server, browser, tmp_path):
    from backpropviz.train import train

    path = blobs_csv(tmp_path / "my blobs.csv")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&model=mlp:3&epochs=20&lr=0.2&speed=0")
        page.select_option("select[name=data]", "csv")
        assert page.is_visible(".bpv-live-upload") and not page.is_visible("canvas.bpv-live-pad")
        page.set_input_files("input[name=csv_file]", str(path))
        page.wait_for_function("window.backpropviz.settings().csv !== null", timeout=10000)
        page.evaluate("window.backpropviz.idle()")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"my blobs.csv: 40 rows, 4 columns (sha256 {digest[:12]}" in page.text_content(".bpv-live-upload-status")
        assert page.input_value("select[name=target]") == "label"
        # All other columns are the features at first: the text column is refused, with its row.
        assert ("my blobs.csv: row 1 (line 2), column 'name': expected a finite number, got 'row0'"
                in page.text_content(".bpv-live-error"))
        page.uncheck(".bpv-live-feature input[value=name]")
        state = page.evaluate("window.backpropviz.idle()")
        assert state["state"] == "ready" and state["error"] == "", state
        settings = page.evaluate("window.backpropviz.settings()")
        assert settings["csv"] == f"{digest}/my blobs.csv" and settings["features"] == ["a", "b"]
        assert "not in the link" in page.text_content(".bpv-live-upload")

        config = config_from_dict(page.evaluate("window.backpropviz.config()"))
        assert hashlib.sha256(open(config.csv, "rb").read()).hexdigest() == digest  # the kept file
        run_to_end(page, 20)
        # train() on the user's own file, not the kept copy: the same run.
        history = train(RunConfig(data="csv", csv=str(path), target="label", features=("a", "b"), model="mlp:3",
                                  epochs=20, lr=0.2))
        assert_page_equals(page, history, [0, 1, 10, 19])

        # The link names the file by its hash: another tab gets the columns from the server.
        other, other_errors = open_playground(context, page_link(page))
        assert other.evaluate("window.backpropviz.settings()") == settings
        other.wait_for_function("document.querySelector('select[name=target]').value === 'label'", timeout=10000)
        assert other.is_checked(".bpv-live-feature input[value=a]")
        assert not other.is_checked(".bpv-live-feature input[value=name]")
        assert errors == [] and other_errors == []
    finally:
        context.close()


def test_an_oversized_or_garbage_csv_gets_a_message_and_the_server_keeps_serving(server, browser, tmp_path):
    bad = {
        "garbage.csv": (bytes(range(128, 256)) * 8, 400, "garbage.csv is not UTF-8 text"),
        "big.csv": (b"a,b\n" + b"1,2\n" * (MAX_UPLOAD // 4), 413, "at most 1,000,000 bytes"),
        "rows.csv": (b"a,b\n" + b"1,0\n" * 2001, 400, "past the limit of 2000 data rows"),
        "one.csv": (b"a\n1\n2\n", 400, "one column"),
        "ragged.csv": (b"a,b\n1,2\n3\n", 400, "row 2 (line 3) has 1 fields"),
        "empty.csv": (b"", 400, "empty.csv is empty"),
    }
    for name, (body, status, message) in bad.items():
        code, answer = request(server, f"/api/upload?name={name}", body)
        assert code == status and message in answer["error"], (name, code, answer)
    # A config may name only an uploaded file, by its key.
    for csv, message in [("/etc/passwd", "must name a file uploaded"), ("0" * 64 + "/x.csv", "not kept on this server"),
                         ("0" * 64 + ".csv", "must name a file uploaded"), ("0" * 64 + "/../x.csv", "must name a file uploaded"),
                         ("../x.csv", "must name a file uploaded")]:
        code, answer = request(server, "/api/command", json.dumps(
            {"client": "up", "action": "new", "config": {"data": "csv", "csv": csv, "target": "b"}}).encode())
        assert code == 400 and message in answer["error"], (csv, answer)
    code, answer = request(server, "/api/upload?csv=nothing.csv")
    assert code == 400 and "must name a file uploaded" in answer["error"]

    # On the page: the message is said beside the file input; the server still takes a good file.
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page, errors = open_playground(context, server.url + "&data=csv")
        for name in ("garbage.csv", "big.csv"):
            (tmp_path / name).write_bytes(bad[name][0])
            page.set_input_files("input[name=csv_file]", str(tmp_path / name))
            page.wait_for_function("document.querySelector('.bpv-live-upload-status').textContent.includes('not taken')",
                                   timeout=10000)
            text = page.text_content(".bpv-live-upload-status")
            assert text.startswith(f"{name} was not taken: ") and bad[name][2] in text, text
        assert page.evaluate("window.backpropviz.settings().csv") is None
        page.set_input_files("input[name=csv_file]", str(blobs_csv(tmp_path / "fine.csv")))
        page.wait_for_function("window.backpropviz.settings().csv !== null", timeout=10000)
        page.uncheck(".bpv-live-feature input[value=name]")
        assert page.evaluate("window.backpropviz.idle()")["state"] == "ready"
        # Another data set drops the file from the settings (a csv for moons would be refused).
        page.select_option("select[name=data]", "xor")
        assert page.evaluate("window.backpropviz.idle()")["state"] == "ready"
        assert [page.evaluate(f"window.backpropviz.settings().{k}") for k in ("csv", "target", "features")] == [None] * 3
        assert errors == []
    finally:
        context.close()


def test_a_kept_upload_that_was_changed_is_not_trained(tmp_path):
    uploads = Uploads(tmp_path)
    answer = uploads.add("t.csv", b"a,b,label\n1,2,0\n2,1,1\n")
    kept = tmp_path / answer["csv"]
    assert uploads.resolve({"csv": answer["csv"]}) == {"csv": str(kept)}
    assert uploads.resolve({"csv": str(kept)}) == {"csv": str(kept)}  # config()'s path names it too
    kept.write_bytes(b"a,b,label\n9,9,0\n2,1,1\n")  # not what its hash says
    with pytest.raises(BackpropvizError, match="not kept on this server"):
        uploads.resolve({"csv": answer["csv"]})


def test_serve_refuses_an_uploads_folder_that_is_a_file(cli, tmp_path):
    (tmp_path / "taken").write_text("x")
    r = cli("serve", "--uploads", tmp_path / "taken", "--port", "0")
    assert r.code == 2 and r.err.strip().splitlines() == [
        f"backpropviz: error: --uploads {str(tmp_path / 'taken')!r} is a file; give a folder (made if missing) for "
        "the uploaded CSV files"]


@pytest.mark.skipif(not hasattr(__import__("os"), "getuid"), reason="POSIX owners")
def test_an_upload_folder_that_is_a_link_is_not_used(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "uploads").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(BackpropvizError, match="belongs to another user or is a link; start the server with serve "
                                               "--uploads DIR"):
        Uploads(tmp_path / "uploads").add("t.csv", b"a,b\n1,2\n")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_an_uploaded_regression_csv_is_told_apart_and_trains_as_train_does(server, tmp_path):
    from backpropviz.train import train

    rng = np.random.default_rng(3)
    rows = ["x1,x2,height,kind"] + [f"{a:.3f},{b:.3f},{a * 0.7 - b + 0.05 * rng.normal():.4f},{'ab'[i % 2]}"
                                    for i, (a, b) in enumerate(rng.normal(size=(30, 2)))]
    path = tmp_path / "heights.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    code, answer = request(server, "/api/upload?name=heights.csv", path.read_bytes())
    assert code == 200 and answer["columns"] == ["x1", "x2", "height", "kind"] and answer["rows"] == 30
    assert answer["target"] == "kind"  # a column named like a class column is taken first
    assert answer["targets"]["height"] == {"task": "regression", "classes": 0}
    assert answer["targets"]["kind"] == {"task": "classification", "classes": 2}
    assert request(server, f"/api/upload?csv={urllib.parse.quote(answer['csv'])}")[1] == answer  # a link's file
    settings = {"data": "csv", "csv": answer["csv"], "target": "height", "features": ["x1", "x2"], "loss": "mse",
                "model": "mlp:3", "epochs": 15, "lr": 0.05}
    body = json.dumps({"client": "reg", "action": "new", "config": settings, "speed": 0}).encode()
    code, made = request(server, "/api/command", body)
    assert code == 200 and made["steps"] == 15, made
    assert request(server, "/api/command", json.dumps({"client": "reg", "action": "play"}).encode())[0] == 200
    run = server.playground.clients["reg"].run
    run.thread.join(20)
    expected = train(RunConfig(**{**settings, "csv": str(path)}))
    assert made["meta"]["run"]["model"]["output"] == "identity"  # regression: the page draws the predicted value
    np.testing.assert_array_equal(run.rec.params.numpy(), expected.params)
    np.testing.assert_array_equal(run.rec.grads.numpy(), expected.grads)


def test_many_malformed_uploads_are_answered_and_leave_only_good_files(server, tmp_path):
    rng = np.random.default_rng(12)
    bodies = [rng.bytes(int(n)) for n in rng.integers(1, 5000, 40)]
    bodies += [b"\xef\xbb\xbfa,b\r\n1,2\r\n", b'a,b\n"1,2\n', b"a,b\n1,\x002\n", b"a,,b\n1,2,3\n", b"a,A\n1,2\n",
               b",".join(b"c%d" % i for i in range(2000)) + b"\n" + b",".join([b"1"] * 2000) + b"\n", b"a,b\n" + b"x" * 200_000 + b",1\n",
               b"a;b;c\n1;2;3\n", b"\n\n\n", b"a,b\n\n\n", "é,ü\n1,2\n".encode("latin-1"), b"a,b\n1,2\n" * 3]
    names = ["x.csv", "../../etc/passwd", "a" * 500, "\x00\x01.csv", "日本語.csv", "..", "", "C:\\x\\y.csv", "a/b/c.csv"]
    answers = []
    for i, body in enumerate(bodies):
        name = names[i % len(names)]
        answers.append((i, *request(server, f"/api/upload?name={urllib.parse.quote(name)}", body)))
    for key in ["", "x", "../" * 5 + "etc/passwd", "0" * 64, "0" * 64 + "/", "0" * 64 + "/a/b", "%00", "a" * 5000]:
        answers.append((key, *request(server, f"/api/upload?csv={urllib.parse.quote(key)}")))
    for what, code, answer in answers:
        assert code in (200, 400, 413), (what, code, answer)
        assert isinstance(answer, dict), (what, answer)
        if code != 200:
            assert answer["error"] and "Traceback" not in answer["error"] and len(answer["error"]) <= 1000, (what, answer)
    by = {what: answer for what, code, answer in answers}
    assert "columns; the playground takes at most 1000" in by[len(bodies) - 7]["error"]
    assert "field larger than field limit" in by[len(bodies) - 6]["error"]
    assert by[len(bodies) - 1]["rows"] == 5 and by[len(bodies) - 12]["columns"] == ["a", "b"]  # the BOM is no name
    # Kept: only files that were read, each under the hash of its content, nothing outside the folder.
    folder = server.playground.uploads.folder
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.parent.parent == folder and hashlib.sha256(path.read_bytes()).hexdigest() == path.parent.name
    assert not any(p.name.startswith(".check-") for p in folder.iterdir())
    # Still serving: a good file is taken and trains.
    code, answer = request(server, "/api/upload?name=ok.csv", b"a,b,label\n0,0,0\n1,1,1\n0,1,0\n1,0,1\n")
    assert code == 200
    body = json.dumps({"client": "fz", "action": "new", "config": {"data": "csv", "csv": answer["csv"],
                                                                   "target": "label", "epochs": 3}}).encode()
    assert request(server, "/api/command", body)[0] == 200
