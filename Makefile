# One entry point for people and CI. `make test` and `make demo` do all set-up themselves.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
SIZE    ?= small
export PYTHONHASHSEED := 0

.PHONY: install check test demo bench fix clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# The local CPU wheel first, so nothing later pulls a multi-GB CUDA build.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e ".[all,dev]"
	touch $(STAMP)

install: $(STAMP)

check: install
	$(BIN)/ruff format --check reelrec tests benchmarks
	$(BIN)/ruff check reelrec tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy reelrec

fix: install
	$(BIN)/ruff format reelrec tests benchmarks
	$(BIN)/ruff check --fix reelrec tests benchmarks

# pytest exit code 5 (no tests collected) is a failure here, as is any other non-zero code.
# A loopback redis-server runs for the Redis tests and is stopped on every exit (trap).
test: check
	@state=$$(mktemp -d); trap "bash scripts/redis.sh stop $$state/redis; rm -rf $$state" EXIT; \
	url=$$(bash scripts/redis.sh start $$state/redis) || { echo "could not start redis-server"; exit 1; }; \
	REELREC_TEST_REDIS_URL=$$url $(BIN)/pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -ne 0 ]; then echo "pytest failed with exit code $$rc"; exit $$rc; fi
	$(MAKE) --no-print-directory bench SIZE=tiny

demo: install
	bash scripts/demo.sh

bench: install
	@for b in benchmarks/bench_*.py; do echo "== $$b --size $(SIZE)"; $(BIN)/python $$b --size $(SIZE) || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache build dist *.egg-info
