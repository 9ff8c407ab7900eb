# The two commands of the README: `make serve` and `make test`. Each sets up what it needs.
VENV ?= .venv
DATA_DIR ?= porch-embedded-data
LISTEN ?= 127.0.0.1:9443

.PHONY: serve test setup setup-system bench binary

setup:
	@scripts/setup

setup-system:
	@scripts/setup --system

serve: setup
	$(VENV)/bin/porch-embedded serve --data-dir $(DATA_DIR) --listen $(LISTEN)

test: setup-system
	$(VENV)/bin/pytest -q -p no:cacheprovider

bench: setup
	$(VENV)/bin/python bench/api_bench.py

binary: setup
	$(VENV)/bin/pyinstaller --onefile --name porch-embedded --exclude-module pytest --exclude-module _pytest --collect-data celpy \
		--distpath dist --workpath build/pyinstaller --specpath build porch_embedded/__main__.py
