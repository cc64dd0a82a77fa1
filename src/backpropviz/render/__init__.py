"""Matplotlib renderers. Nothing here imports matplotlib until a figure is drawn.

Displays follow one pattern: ``from_history`` / ``from_landscape`` computes, ``plot(ax=None)``
draws and keeps its artists on the object (``ax_``, ``figure_``, ...). ``figures.write_run_figures``
writes a run's overview and loss curve to files.
"""
