"""Browser fixtures for the page tests: a real headless Chromium (Debian's), network blocked.

The fixtures ``browser`` and ``open_page`` are registered in conftest.py (one browser for the
session); test modules import only the helpers (``build_page``, ``MOONS``, ``PageSession``).

Without Chromium or Playwright the page tests skip with one line that says how to get them
(``.ci/run`` installs both, so CI runs them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("BACKPROPVIZ_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-extensions"]
HOW_TO_GET = ("browser tests need Chromium and Playwright: apt-get install -y chromium fonts-dejavu-core "
              "and pip install -c requirements/constraints.txt -e '.[test]' (bash .ci/run does both)")


def _skip_or_fail(reason: str):
    """Skip with how to get the browser; in CI (BACKPROPVIZ_REQUIRE_BROWSER=1) fail instead."""
    if os.environ.get("BACKPROPVIZ_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (BACKPROPVIZ_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(reason)


def _playwright():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _skip_or_fail(HOW_TO_GET)
    if not Path(CHROMIUM).exists():
        _skip_or_fail(HOW_TO_GET)
    return sync_playwright


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    sync_playwright = _playwright()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class PageSession:
    """A browser tab on one page file: console errors, page errors and requests collected."""

    def __init__(self, browser, path: Path, *, viewport=(1400, 900), hash_: str = ""):
        self.context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        self.requests: list[str] = []
        self.errors: list[str] = []
        # Block everything but the file itself and its data: URLs; count what was asked for.
        def route(r):
            url = r.request.url
            if url.startswith("file://") or url.startswith("data:"):
                return r.continue_()
            self.requests.append(url)
            return r.abort()
        self.context.route("**/*", route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: None if r.url.startswith(("file://", "data:")) else self.requests.append(r.url))
        self.url = Path(path).resolve().as_uri()
        self.page.goto(self.url + hash_)
        self.page.wait_for_function("document.documentElement.dataset.ready", timeout=20000)
        assert self.page.evaluate("document.documentElement.dataset.ready") == "1", self.errors

    def js(self, expr, arg=None):
        return self.page.evaluate(expr, arg) if arg is not None else self.page.evaluate(expr)

    def close(self):
        self.context.close()


@pytest.fixture
def open_page(browser):
    """``open_page(path, hash_="#step=3")`` -> a PageSession, closed after the test."""
    sessions = []

    def opener(path, **kw):
        s = PageSession(browser, path, **kw)
        sessions.append(s)
        return s

    yield opener
    for s in sessions:
        s.close()


def build_page(tmp_path_factory, name: str, history=None, *, lang="en", **run):
    """Train (or take) a history and write its page; returns (path, history)."""
    from backpropviz.config import RunConfig
    from backpropviz.train import train
    from backpropviz.web.pack import page_data
    from backpropviz.web.page import write_page

    h = history if history is not None else train(RunConfig(**run))
    out = tmp_path_factory.mktemp("pages") / f"{name}.html"
    write_page(page_data(h, lang=lang), out)
    return out, h


MOONS = dict(data="moons", model="mlp:8,8", activation="relu", optimizer="adam", lr=0.05, epochs=300,
             batch_size=32, test_fraction=0.25, seed=0)


# The start of an async page.evaluate function on a page of `backpropviz html`: its recording's
# arrays, `mount` and `Recording`, and `grow(rec)`, a function (a, b) that appends steps a..b-1 to
# `rec` as a live server sends them (row 0 with the first). Used as GROWING + "..." + "}".
GROWING = """
  const { Recording, decode } = await import("bpv/recording.js");
  const { mount } = await import("bpv/app.js");
  const page = JSON.parse(document.getElementById("bpv-data").textContent);
  const P = page.run.param_names.length;
  const params = decode(page.steps.params), grads = decode(page.steps.grads);
  const loss = decode(page.steps.loss), epoch = decode(page.steps.epoch), whole = decode(page.steps.whole_loss);
  const grow = (rec) => (a, b) => rec.append({ initial: a === 0 ? params.slice(0, P) : undefined,
    initial_whole_loss: a === 0 ? whole[0] : undefined,
    params: params.slice((a + 1) * P, (b + 1) * P), grads: grads.slice(a * P, b * P),
    loss: loss.slice(a, b), epoch: epoch.slice(a, b), whole_loss: whole.slice(a + 1, b + 1) });
"""
