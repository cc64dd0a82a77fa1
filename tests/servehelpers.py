"""Plain helpers for the playground server's tests (test_serve*.py): one HTTP request to a running
``Server`` and its answer, whatever its status, and the playground page opened in a browser context.

The fixtures (``server``, ``browser``) stay in the test modules and conftest.py; pytest puts this
folder on sys.path, so a test module imports these as ``from servehelpers import post``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np

JSON = {"Content-Type": "application/json"}


def fetch(url: str, data: bytes | None = None, *, method: str | None = None, headers: dict | None = None,
          timeout: float = 30.0):
    """``(status, body, headers)`` of one request to ``url``: an error status is an answer here, not
    an exception. ``data`` is the body as it is sent (a POST unless ``method`` says otherwise)."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def api_url(server, path: str, *, token: bool = True) -> str:
    """The URL of ``path`` on ``server``, with the server's token added to the query (``token``)."""
    if not token:
        return server.base + path
    return f"{server.base}{path}{'&' if '?' in path else '?'}token={server.token}"


def json_or_bytes(raw: bytes):
    """``raw`` read as JSON, or the bytes themselves where they are not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def get(url: str, headers: dict | None = None):
    """``(status, body bytes)`` of a GET of ``url``."""
    status, body, _ = fetch(url, headers=headers, timeout=10)
    return status, body


def post(server, body, *, token: bool = True):
    """``(status, answer)`` of a POST of ``body`` to ``/api/command`` (bytes as they are, anything else
    as JSON); the answer is read as JSON where it is JSON (``json_or_bytes``)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    status, raw, _ = fetch(api_url(server, "/api/command", token=token), data, method="POST", headers=JSON)
    return status, json_or_bytes(raw)


def request(server, path: str, body: bytes | None = None, method: str | None = None):
    """``(status, answer)`` of a request of ``path`` with the token: a GET, or a POST of ``body``
    (bytes, sent as they are); the answer is read as JSON where it is JSON."""
    status, raw, _ = fetch(api_url(server, path), body, method=method)
    return status, json_or_bytes(raw)


def request_raw(server, path: str, *, data=None, token: bool = True):
    """``(status, body bytes, headers)`` of a GET of ``path``, or a POST of ``data`` as JSON (the
    exports: files, whose bytes and headers the tests read)."""
    body = None if data is None else json.dumps(data).encode()
    return fetch(api_url(server, path, token=token), body, method="GET" if data is None else "POST", headers=JSON,
                 timeout=60)


def open_playground(context, url: str):
    """``(page, errors)``: the playground at ``url`` in a new page of ``context``, loaded and idle;
    ``errors`` collects the page's uncaught errors."""
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url)
    page.wait_for_function("document.documentElement.dataset.ready === '1'", timeout=30000)
    page.evaluate("window.backpropviz.idle()")
    return page, errors


def page_link(page) -> str:
    """The page's URL once its settings are in it (the playground writes them a moment after a
    change; ``idle()`` writes them at once)."""
    page.evaluate("window.backpropviz.idle()")
    return page.url


def shown_step(page, k):
    """What the page's viewer shows at step ``k`` (``window.backpropviz.current()`` after ``go(k)``)."""
    return page.evaluate(f"(window.backpropviz.go({k}), window.backpropviz.current())")


def assert_step_equals(page, history, k):
    """The page's step ``k`` is ``history``'s, bit for bit: parameters, gradient, loss and epoch."""
    shown = shown_step(page, k)
    assert shown["step"] == k and shown["names"] == list(history.param_names)
    np.testing.assert_array_equal(np.array(shown["params"], dtype=np.float32), history.params[k])
    np.testing.assert_array_equal(np.array(shown["grad"], dtype=np.float32), history.grads[k])
    assert np.float32(shown["loss"]) == history.loss[k] and shown["epoch"] == history.epoch[k]
