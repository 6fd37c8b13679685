# The two commands of the README: `make demo` (the main job) and `make test` (the whole suite).
# Both build .venv from requirements*.txt when it is absent or older than them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
DATA := data
BUILD := build

.PHONY: test lint demo data bench models

$(STAMP): requirements.txt requirements-test.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-test.txt
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 2 -q
	@echo "make test: the README's python commands run in .venv: source .venv/bin/activate"

# ruff, pinned in requirements-test.txt and set up in pyproject.toml; .ci/run runs it before the tests.
lint: $(STAMP)
	$(PY) -m ruff check .

# SVHN when it can be downloaded, otherwise the offline stand-in (and the notebook says which one it read).
data: $(STAMP)
	@if [ -f $(DATA)/train_32x32.mat ] && [ -f $(DATA)/test_32x32.mat ]; then \
		echo "make: using the data already in $(DATA)/"; \
	elif ./download_data.sh $(DATA); then :; else \
		echo "make: the SVHN download failed; building the offline stand-in (synthetic digits, NOT SVHN) in $(DATA)/"; \
		$(PY) standin.py $(DATA); \
	fi

# The kernel talks to nbconvert over Unix sockets (ipc): nothing listens on a TCP port, so ipykernel has no
# unencrypted TCP traffic to warn about. The HTML uses nbconvert's classic template, the one that writes each
# figure's alt text (the `alt` of its cell's metadata) into the page; the lab template drops it.
demo: data
	mkdir -p $(BUILD)
	$(PY) -m jupyter nbconvert --to notebook --execute CNN.ipynb --ExecutePreprocessor.timeout=1800 \
		--KernelManager.transport=ipc --output-dir $(BUILD) --output CNN.ipynb
	$(PY) -m jupyter nbconvert --to html --template classic $(BUILD)/CNN.ipynb --output-dir $(BUILD)
	@echo "make demo: executed notebook in $(BUILD)/CNN.ipynb, HTML export in $(BUILD)/CNN.html"
	@echo "make demo: overfit exercise: $$(grep -o 'Best training accuracy: [0-9][0-9.]*' $(BUILD)/CNN.ipynb | tail -n 1)"
	@echo "make demo: the README's python commands run in .venv: source .venv/bin/activate"

# The second notebook, the follow-up assignment (3.2), run the way `make demo` runs CNN.ipynb. Its sizes follow the
# data: a few minutes on the stand-in, hours on real SVHN (hence no time limit per cell); NOTEBOOK_SIZE=ci|standin|full
# overrides them.
models: data
	mkdir -p $(BUILD)
	$(PY) -m jupyter nbconvert --to notebook --execute CNN_models.ipynb --ExecutePreprocessor.timeout=-1 \
		--KernelManager.transport=ipc --output-dir $(BUILD) --output CNN_models.ipynb
	$(PY) -m jupyter nbconvert --to html --template classic $(BUILD)/CNN_models.ipynb --output-dir $(BUILD)
	@echo "make models: executed notebook in $(BUILD)/CNN_models.ipynb, HTML export in $(BUILD)/CNN_models.html"
	@echo "make models: $$(grep -o 'Final test accuracy[^:]*: [0-9][0-9.]*[^\"]*' $(BUILD)/CNN_models.ipynb | tail -n 1)"

bench: $(STAMP)
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) -m bench
