# Hilbert — build, install, test.
#   make                      release build into out/ (bin/hilbert, lib/libhilbert-preload.so, lib/libHilbertEngine.so)
#   make install PREFIX=DIR   relocatable install: DIR/bin, DIR/lib (the shim finds the engine beside itself),
#                             DIR/modulefiles/{hilbert,hilbert-cli}/VERSION[.lua] (module use DIR/modulefiles)
#   make deps                 install what building needs (Debian packages; root)
#   make test-deps            install everything the tests need, in one serial step (root; make test runs it)
#   make test                 test-deps, build, then the whole suite (Tests/run-all.sh): Swift unit tests,
#                             shim tests, integration tests with real programs; ends "N passed, N failed, N skipped"
#   make bench                the benchmark (prefix vs. a native directory, same run)

PREFIX ?= /usr/local
VERSION := $(shell cat VERSION)
SWIFT ?= swift
OUT := $(CURDIR)/out
# No $ORIGIN RUNPATH: both link everything but glibc statically, and a RUNPATH makes the
# dynamic loader probe a dozen directories beside the engine for libm in every process.
SWIFT_BUILD := $(SWIFT) build -c release --disable-local-rpath --product
RELEASE_DIR = $(shell $(SWIFT) build -c release --show-bin-path)

.PHONY: all deps test-deps build shim engine cli install install-files quickstart test unit-test shim-test integration-test bench clean

all: build

# Installs missing Debian packages (apt, when root); prints what is missing otherwise.
deps:
	@bash scripts/install-deps.sh

# Everything the test suite needs (Debian packages, the S3 server's venv, Environment Modules,
# the containers' root file systems), before any test starts: no test installs anything.
test-deps:
	@bash scripts/install-deps.sh --test

# The README's first command: install what is missing, build, run a real job on the default volume.
quickstart: deps build
	$(OUT)/bin/hilbert run -- bash -c 'mkdir -p /hilbert/demo && seq 1 100000 | gzip > /hilbert/demo/numbers.gz && ls -l /hilbert/demo && zcat /hilbert/demo/numbers.gz | tail -n 1 && df -h /hilbert'
	$(OUT)/bin/hilbert status

build: shim engine cli
	@echo "built: $(OUT)/bin/hilbert, $(OUT)/lib/libhilbert-preload.so, $(OUT)/lib/libHilbertEngine.so"

# Files are copied beside their destination and renamed into place: overwriting a shared
# object that running programs have mapped crashes them.
PLACE = sh -c 'mkdir -p "$$(dirname "$$2")" && cp "$$1" "$$2.new.$$$$" && mv -f "$$2.new.$$$$" "$$2"' place

# The engine and the CLI link libstdc++ and libgcc statically (Package.swift: staticCxx), load
# libm only when a math function is called (Sources/CLazyLibm/libm.c), libcurl and libpq only
# when a volume needs them (CHilbertHTTP, CHilbertPQ: dlopen), and carry no RUNPATH.
LINK_CHECK = sh -c 'if readelf -d "$$1" | grep -E "NEEDED.*(libstdc\+\+|libgcc_s|libm\.so|libcurl|libpq)|RUNPATH|RPATH"; then \
	echo "$$1 must link libstdc++ and libgcc statically, carry no RUNPATH (Package.swift, SWIFT_BUILD), not" \
		"need libcurl or libpq (they are dlopen()ed) and not" \
		"need libm (add the math functions it now uses, nm -D: undefined and defined in libm, to Sources/CLazyLibm/libm.c)" >&2; \
	exit 1; fi' check

shim:
	$(MAKE) -C preload
	$(PLACE) preload/build/libhilbert-preload.so $(OUT)/lib/libhilbert-preload.so
	$(PLACE) preload/build/libhilbert-preload-compat.so $(OUT)/lib/libhilbert-preload-compat.so

engine:
	$(SWIFT_BUILD) HilbertEngine --static-swift-stdlib
	mkdir -p $(OUT)/lib
	strip --strip-unneeded -o $(OUT)/lib/.libHilbertEngine.so.new $(RELEASE_DIR)/libHilbertEngine.so
	@$(LINK_CHECK) $(OUT)/lib/.libHilbertEngine.so.new
	@if grep -q /proc/self/maps $(OUT)/lib/.libHilbertEngine.so.new; then \
		echo "the engine must not carry the Swift runtime's CommandLine.cpp (Sources/CEngineArgv/argv.c)" >&2; exit 1; fi
	mv -f $(OUT)/lib/.libHilbertEngine.so.new $(OUT)/lib/libHilbertEngine.so

cli:
	$(SWIFT_BUILD) hilbert --static-swift-stdlib
	@$(LINK_CHECK) $(RELEASE_DIR)/hilbert
	$(PLACE) $(RELEASE_DIR)/hilbert $(OUT)/bin/hilbert
	$(PLACE) wrappers/hilbert-container $(OUT)/bin/hilbert-container
	$(PLACE) wrappers/hilbert-apptainer-bwrap $(OUT)/bin/hilbert-apptainer-bwrap

install: build
	$(MAKE) --no-print-directory install-files PREFIX=$(PREFIX)

# The copy step alone, from an existing build (tests: make install-files OUT=$HILBERT_HOME).
install-files:
	$(PLACE) $(OUT)/bin/hilbert $(PREFIX)/bin/hilbert
	$(PLACE) $(OUT)/bin/hilbert-container $(PREFIX)/bin/hilbert-container
	$(PLACE) $(OUT)/bin/hilbert-apptainer-bwrap $(PREFIX)/bin/hilbert-apptainer-bwrap
	$(PLACE) $(OUT)/lib/libhilbert-preload.so $(PREFIX)/lib/libhilbert-preload.so
	$(PLACE) $(OUT)/lib/libhilbert-preload-compat.so $(PREFIX)/lib/libhilbert-preload-compat.so
	$(PLACE) $(OUT)/lib/libHilbertEngine.so $(PREFIX)/lib/libHilbertEngine.so
	$(PLACE) wrappers/hilbert-launch $(PREFIX)/bin/hilbert-launch
	chmod 755 $(PREFIX)/bin/hilbert-launch
	for m in hilbert hilbert-cli; do \
	    $(PLACE) modulefiles/hilbert.tcl $(PREFIX)/modulefiles/$$m/$(VERSION) && \
	    $(PLACE) modulefiles/hilbert.lua $(PREFIX)/modulefiles/$$m/$(VERSION).lua && \
	    printf '#%%Module\nset ModulesVersion "%s"\n' "$(VERSION)" > $(PREFIX)/modulefiles/$$m/.version || exit 1; \
	done
	@echo "installed into $(PREFIX) (module use $(PREFIX)/modulefiles)"

# Order matters (test-deps, then build, then the tests); run by hand, not as parallel prerequisites.
test:
	@$(MAKE) --no-print-directory test-deps
	@$(MAKE) --no-print-directory build
	@SWIFT=$(SWIFT) HILBERT_HOME=$(OUT) bash Tests/run-all.sh

unit-test:
	@SWIFT=$(SWIFT) bash Tests/run-all.sh unit

shim-test:
	@bash Tests/run-all.sh shim

integration-test: build
	@HILBERT_HOME=$(OUT) bash Tests/run-all.sh integration

bench: build
	HILBERT_HOME=$(OUT) python3 Tests/bench/bench.py --drive

clean:
	$(MAKE) -C preload clean
	rm -rf $(OUT) .build
