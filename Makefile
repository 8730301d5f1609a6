# Every target sets up what it needs first (scripts/setup.sh is quick when nothing changed).
PY := .venv/bin/python
MODEL ?= c

.PHONY: setup demo test test-slow bench gpu-check
setup:
	bash scripts/setup.sh

demo: setup
	$(PY) scripts/run_demo.py --model $(MODEL)

test: setup
	$(PY) -m pytest -q tests

test-slow: setup
	$(PY) -m pytest -q -m slow tests

# The CPU schedule of `make bench`: half the demo configs' iterations, so that the op and speed
# benchmarks and the five trained runs of the accuracy table fit in 45 minutes on 2 cores
# (the README's table uses the full demo schedule: benchmarks/accuracy.py without --iters).
BENCH_C_ITERS ?= 400
BENCH_T_ITERS ?= 200
BENCH_RUNS := box-fill,levelset-evolution,c-boxinst,c-box,c-mask,t-box,t-mask

bench: setup
	$(PY) benchmarks/bench_levelset.py
	$(PY) benchmarks/bench_tree_filter.py
	$(PY) benchmarks/bench_msdeform_attn.py
	$(PY) benchmarks/speed.py
	$(PY) benchmarks/accuracy.py --only $(BENCH_RUNS) --iters $(BENCH_C_ITERS) \
		--t-iters $(BENCH_T_ITERS) --output output/benchmarks/accuracy_cpu_schedule

# On a machine with a CUDA GPU (a few minutes): build with the CUDA kernels (scripts/setup.sh
# rebuilds in full when the CUDA mode changes), then the `cuda` tests, the op
# benchmarks, a 200-iteration demo training and the inference latency on the GPU, as one table
# in output/gpu_check.md.
gpu-check:
	FORCE_CUDA=1 $(MAKE) setup
	$(PY) benchmarks/gpu_check.py
