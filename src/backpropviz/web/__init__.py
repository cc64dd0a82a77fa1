"""The viewer: one interactive page for a recorded run.

``pack.page_data(history)`` turns a History (plus what the analysis layer computes once: the
loss surface, the projected path, the autograd trace of each step, the chain-rule table) into
the page's data, a JSON object of plain numbers and base64 typed arrays (docs/page-format.md).
``page.write_page`` inlines that data, the viewer's ES modules (``static/``) and, for Japanese,
a subset of the IPAex font into one HTML file that opens from disk with no network.

The viewer draws; it never trains. It reads one ``Recording`` object that can grow step by
step, so the same modules serve the offline page, a server that streams steps, and notebooks.
"""
