# ngff-resave: `make demo` runs the workflow on the built-in example sheet; `make test` runs
# the tests. Both create .venv and install the pinned requirements first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test bench lint screenshot clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m ngff_resave example examples
	$(BIN)/snakemake --cores all
	@echo
	@echo "catalog: $(CURDIR)/results/catalog.csv"
	@echo "datasets: $(CURDIR)/results/ome-zarr/"

# pytest exits 5 when it collects no test; that is reported, not hidden as a pass.
test: $(STAMP)
	$(BIN)/pytest -q -p no:cacheprovider $(PYTEST_ARGS); status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests"; fi; exit $$status

# Generates (and caches) a ~1 GB input under bench/cache, installs the challenge's converter
# into its own venv there, prints the table and writes bench/results.md and bench/results.png;
# then the scale scenarios (bench/scale-results.md) and S3 to S3 on a local S3 server
# (bench/remote-results.md), the version table (bench/versions-results.md: inputs other tools
# wrote, to 0.5 and 0.6); last, a big image from a cold page cache (bench/bigimage-results.md:
# an 18 GB input generated once, 2x that free disk needed; BIG_ARGS="--scale 0.05" for a small one).
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python bench/benchmark.py $(BENCH_ARGS)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)
	$(BIN)/python bench/upgrade.py $(UPGRADE_ARGS)
	$(BIN)/python bench/versions.py
	$(BIN)/python bench/remote.py $(REMOTE_ARGS)
	$(BIN)/python bench/bigimage.py $(BIG_ARGS)

# snakemake --lint parses the workflow, which needs a sheet whose inputs exist: the examples'.
LINT_DIR := .lint
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy src/ngff_resave
	$(BIN)/lint-imports --no-cache
	$(BIN)/snakefmt --check Snakefile workflow
	$(BIN)/python -c "from pathlib import Path; from ngff_resave.cli.examples import write_example_workdir as w; w(Path('$(LINT_DIR)'))"
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --directory $(LINT_DIR) --configfile $(LINT_DIR)/config.yaml --lint

# The README's report screenshots: the test configuration (.test/) run, its report built and
# opened in a headless Chromium (Debian: apt-get install chromium).
SHOT_DIR := .screenshot
screenshot: $(STAMP)
	$(BIN)/pip install --quiet -e '.[docs]'
	rm -rf $(SHOT_DIR) && cp -r .test $(SHOT_DIR)
	$(BIN)/python -m ngff_resave example $(SHOT_DIR)/data/examples
	-PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --directory $(SHOT_DIR) --configfile $(SHOT_DIR)/config/config.yaml --cores 2 -q
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/snakemake --directory $(SHOT_DIR) --configfile $(SHOT_DIR)/config/config.yaml --report report.zip
	$(BIN)/python -m zipfile -e $(SHOT_DIR)/report.zip $(SHOT_DIR)
	$(BIN)/python docs/screenshot.py $(SHOT_DIR)/report --out docs

clean:
	rm -rf results logs benchmarks examples .snakemake $(LINT_DIR) $(SHOT_DIR)
