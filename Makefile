# Two commands for a fresh machine (see README):
#   make demo   set up .venv, then reproduce the article's AND-gate experiment into out/demo
#   make test   set up .venv, then run the whole test suite
#   make bench  the benchmarks of bench/, each against its baseline (see README, Speed)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONSTRAINTS := requirements/constraints.txt
STAMP := $(VENV)/.installed

.PHONY: setup demo test bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,video]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/backpropviz demo --out out/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Benchmarks: each runs its baseline side by side (needs the bench extra: the baselines' own packages).
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[test,video,bench]'
	-$(BIN)/python bench/bench_demo.py
	-$(BIN)/python bench/bench_recording.py
	-$(BIN)/python bench/bench_landscape.py
	-$(BIN)/python bench/bench_basins.py
	-$(BIN)/python bench/bench_animate.py
	-$(BIN)/python bench/bench_serve.py

clean:
	rm -rf $(VENV) out .pytest_cache
