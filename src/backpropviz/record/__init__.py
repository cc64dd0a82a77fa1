"""Record your own PyTorch training loop: ``backpropviz.record(model, optimizer, path)``.

Format and semantics: docs/recording-format.md. ``backpropviz.record`` is this package, and
calling it calls ``record.record`` (so that both ``backpropviz.record(...)`` and
``from backpropviz.record import load_recording`` work).
"""

import sys
import types

from .reader import Recording, Snapshot, load_recording
from .recorder import Recorder, record
from .schedule import every, logspaced

__all__ = ["record", "Recorder", "load_recording", "Recording", "Snapshot", "every", "logspaced"]


class _CallablePackage(types.ModuleType):
    """Importing ``backpropviz.record`` sets that name to this package; calling it records."""

    def __call__(self, *args, **kwargs):
        return record(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
_CallablePackage.__call__.__doc__ = record.__doc__
