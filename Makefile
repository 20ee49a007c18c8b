# The two commands a newcomer runs: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest-xdist workers for make test: each runs one test file at a time with its share of the cores, the longest
# files first (tests/conftest.py: LONGEST_FILES)
TEST_WORKERS ?= 2

.PHONY: demo test test-fp32 install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The main job: the paper's SRWT ablation at the tiny CPU scale (2 arms, 1 seed, trained side by side), table + plots.
demo: $(STAMP)
	$(BIN)/qa-lab ablate ablations/srwt --seeds 1 --jobs 2

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

# The same suite on the numerics of a CPU without bf16 matrix instructions (every run in full precision, whatever its
# config says) and with two threads per process (one worker): CI runs it after `make test`.
test-fp32: $(STAMP)
	QA_LAB_PRECISION=32-true $(BIN)/python -m pytest -q -n 1 --dist loadfile

bench: $(STAMP)
	$(BIN)/python benchmarks/train_step.py

clean:
	rm -rf runs data/cache
