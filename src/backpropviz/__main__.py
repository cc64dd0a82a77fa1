"""``python -m backpropviz`` runs the command-line interface."""

from backpropviz.cli import console_entry

console_entry()
