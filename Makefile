# The commands README.md names. Each one creates .venv and installs the project first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
DEMO   ?= demo-out
# A whole test run is bounded; SIGINT lets Ray shut its workers down cleanly.
TEST_TIMEOUT ?= 40m

.PHONY: demo test lint format install clean segmenter-model

$(BIN)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] >= (3, 11), "Restyle needs Python 3.11+"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/restyle sample-catalogue $(DEMO)/catalogue
	$(BIN)/restyle -q segment $(DEMO)/catalogue/images/0001-mug.png \
		$(DEMO)/catalogue/images/0002-sneaker.jpg -o $(DEMO)/masks --method unet
	$(BIN)/restyle -q eval-segmentation --images $(DEMO)/catalogue/catalogue.csv --method edge
	$(BIN)/restyle -q eval-segmentation --images $(DEMO)/catalogue/catalogue.csv --method unet
	@echo "Open $(DEMO)/catalogue/contact_sheet.png (the sample catalogue) and"
	@echo "$(DEMO)/masks/*.overlay.jpg (U-Net masks) to look at the results."

test: install
	$(BIN)/ruff check .
	timeout -s INT $(TEST_TIMEOUT) $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) $(DEMO) .pytest_cache .ruff_cache

# Reproduces the committed demo U-Net (models/segmenter-unet): about 12 minutes on 2 cores.
segmenter-model: install
	$(BIN)/restyle sample-catalogue build/seg-train --count 140 --seed 100 --no-contact-sheet
	$(BIN)/restyle train-segmenter --images build/seg-train/catalogue.csv \
		--out models/segmenter-unet --steps 1200 --seed 0
