# Every target sets up what it needs first (scripts/setup.sh is quick when nothing changed).
PY := .venv/bin/python
MODEL ?= c

.PHONY: setup demo test test-slow bench
setup:
	bash scripts/setup.sh

test: setup
	$(PY) -m pytest -q tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests
