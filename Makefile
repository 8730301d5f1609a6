# Every target sets up what it needs first (scripts/setup.sh is quick when nothing changed).
PY := .venv/bin/python
MODEL ?= c

.PHONY: setup demo test test-slow bench
setup:
	bash scripts/setup.sh

demo: setup
	$(PY) scripts/run_demo.py --model $(MODEL)

test: setup
	$(PY) -m pytest -q tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

bench: setup
	$(PY) benchmarks/bench_levelset.py
	$(PY) benchmarks/bench_tree_filter.py
	$(PY) benchmarks/bench_msdeform_attn.py
	$(PY) benchmarks/speed.py
