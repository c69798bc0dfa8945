# Two commands on a fresh machine: `make study` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PROFILE ?= default
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export PYTHONUNBUFFERED := 1
export OMP_WAIT_POLICY := PASSIVE

.PHONY: env study test lab figures clean-runs

# The environment is rebuilt only when pyproject.toml changes (a stamp file records the last install).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (CAEF kit)" >/dev/null
	touch $(STAMP)

env: $(STAMP)

study: $(STAMP)
	$(PY) -m caef_lib run --profile $(PROFILE) $(ARGS)

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

figures: $(STAMP)
	$(PY) -m caef_lib figures --profile $(PROFILE)

clean-runs:
	rm -rf runs/$(PROFILE) results/$(PROFILE) figures/$(PROFILE)
