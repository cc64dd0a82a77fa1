"""backpropviz: make backpropagation visible.

The package root stays light (no torch, no matplotlib) so that ``backpropviz --help``
answers at once; import the layers you need::

    from backpropviz.config import RunConfig
    from backpropviz.train import train
    history = train(RunConfig())          # the article's AND-gate run
"""

__version__ = "0.1.0"
