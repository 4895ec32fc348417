# libp2psync — build, test, lint, fuzz, bench and demo.
#
# `make demo` and `make test` install what they need on a fresh Debian machine
# (tests/setup-tools.sh). Outputs go to build/: build/lib (libraries), build/include
# (header), build/cmake (C tests), build/kotlin (jars).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := build

GO      ?= go
CC      ?= gcc
CXX     ?= g++
PYTHON  ?= /usr/bin/python3
KOTLINC ?= kotlinc
FUZZTIME ?= 20s

# Versions come from the header, the single source of truth.
VERSION := $(shell sed -n 's/^\#define P2P_VERSION_STRING "\(.*\)".*/\1/p' include/p2psync.h)
MAJOR   := $(shell sed -n 's/^\#define P2P_ABI_VERSION \([0-9]*\)u.*/\1/p' include/p2psync.h)

BUILD     := $(CURDIR)/build
LIB_DIR   := $(BUILD)/lib
SONAME    := libp2psync.so.$(MAJOR)
LIB_REAL  := $(LIB_DIR)/libp2psync.so.$(VERSION)
LIB       := $(LIB_DIR)/libp2psync.so
HEADER    := $(BUILD)/include/p2psync.h
GO_SRC    := $(shell find capi engine -name '*.go' -not -name '*_test.go') capi/abi.c capi/forked.h capi/exports.map go.mod go.sum

# Kotlin 1.3 runs on JDK 17; prefer it over any newer JDK on the machine.
JAVA_HOME := $(firstword $(wildcard /usr/lib/jvm/java-17-openjdk-*) \
               $(patsubst %/bin/javac,%,$(realpath $(shell command -v javac 2>/dev/null))))
export JAVA_HOME
JAVA     := $(JAVA_HOME)/bin/java
JAVA_LIB := /usr/share/java
# The binding uses java.lang.ref.Cleaner (Java 9); Kotlin 1.3 accepts 1.6, 1.8 and 9 to 12.
KT_JVM_TARGET := 9
KT_DIR   := $(BUILD)/kotlin
KT_JAR   := $(KT_DIR)/p2psync.jar
KT_TESTS := $(KT_DIR)/p2psync-tests.jar
JNI_LIB  := $(LIB_DIR)/libp2psync_jni.so
KT_SRC   := $(shell find bindings/kotlin/src -name '*.kt' 2>/dev/null)
KT_TEST_SRC := $(wildcard tests/kotlin/*.kt)
KT_TEST_CLASSES := $(patsubst tests/kotlin/%.kt,org.p2psync.test.%,$(wildcard tests/kotlin/*Test.kt))
KT_RUN_CP := $(KT_TESTS):$(KT_JAR):$(JAVA_LIB)/kotlin-stdlib.jar:$(JAVA_LIB)/junit4.jar:$(JAVA_LIB)/hamcrest-core.jar

.PHONY: build tools tools-demo test test-go test-c test-python test-kotlin lint fuzz bench bench-bindings demo clean \
        install install-configure uninstall python-package kotlin docs

# ------------------------------------------------------------------ build

build: $(LIB) $(HEADER)

# -s -w: no symbol table or DWARF (about 20 MB down to about 14 MB); Go's own stack traces
# keep their function names and lines (pclntab), which is what a panic report needs.
$(LIB_REAL): $(GO_SRC) include/p2psync.h Makefile
	@mkdir -p $(LIB_DIR)
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared \
	  -ldflags "-s -w -extldflags '-Wl,-soname,$(SONAME) -Wl,--version-script=$(CURDIR)/capi/exports.map'" \
	  -o $@ ./capi
	@rm -f $(LIB_DIR)/libp2psync.so.*.h   # cgo's internal header; the contract is include/p2psync.h

$(LIB): $(LIB_REAL)
	ln -sf $(notdir $(LIB_REAL)) $(LIB_DIR)/$(SONAME)
	ln -sf $(SONAME) $@

$(HEADER): include/p2psync.h
	@mkdir -p $(dir $@)
	cp $< $@

# ------------------------------------------------------------------ install and packages

# make install [PREFIX=/usr/local] [DESTDIR=/staging]: the header, the library with its
# SONAME links, the CMake package (find_package(p2psync)) and p2psync.pc, through the
# CMake install rules (their own build directory, pointed at the library built above;
# installing needs only the configure step, so the library is not built a second time).
# Where kotlinc is found (KOTLIN=no skips it), the JVM binding too:
#   LIBDIR/libp2psync_jni.so                 the JNI glue (finds libp2psync.so.2 beside it)
#   share/java/p2psync-VERSION.jar, p2psync.jar   the jar, with LIBDIR written into it
#   share/maven-repo/org/p2psync/p2psync/VERSION/p2psync-VERSION.{jar,pom}   a file repository
# LIBDIR is CMake's GNUInstallDirs choice (lib, or lib/x86_64-linux-gnu under PREFIX=/usr).
# make uninstall with the same PREFIX and DESTDIR removes exactly these files.
PREFIX  ?= /usr/local
DESTDIR ?=
KOTLIN  ?= $(if $(shell command -v $(KOTLINC) 2>/dev/null),yes,no)
KT_STDLIB_VERSION := $(or $(patsubst kotlin-stdlib-%.jar,%,$(notdir $(realpath $(JAVA_LIB)/kotlin-stdlib.jar))),1.3.31)
CMAKE_INSTALL_DIR := $(BUILD)/cmake-install
# CMake's LIBDIR for this PREFIX, read from the configured cache.
install_libdir = $$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' $(CMAKE_INSTALL_DIR)/CMakeCache.txt)
MAVEN_DIR := share/maven-repo/org/p2psync/p2psync/$(VERSION)

install-configure:
	cmake -S . -B $(CMAKE_INSTALL_DIR) -DP2PSYNC_LIBRARY_DIR=$(LIB_DIR) -DP2PSYNC_BUILD_TESTS=OFF \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null

install: build $(if $(filter yes,$(KOTLIN)),kotlin) install-configure
	DESTDIR=$(DESTDIR) cmake --install $(CMAKE_INSTALL_DIR)
ifeq ($(KOTLIN),yes)
	@libdir=$(install_libdir); root="$(DESTDIR)$(PREFIX)"; stage=$(KT_DIR)/install; \
	rm -rf $$stage && mkdir -p $$stage/props/org/p2psync; \
	echo "libdir=$(PREFIX)/$$libdir" > $$stage/props/org/p2psync/install.properties; \
	cp $(KT_JAR) $$stage/p2psync-$(VERSION).jar; \
	$(JAVA_HOME)/bin/jar uf $$stage/p2psync-$(VERSION).jar -C $$stage/props org/p2psync/install.properties; \
	sed -e 's/@VERSION@/$(VERSION)/' -e 's/@KOTLIN_VERSION@/$(KT_STDLIB_VERSION)/' bindings/kotlin/pom.xml.in \
	  > $$stage/p2psync-$(VERSION).pom; \
	set -x; \
	install -D -m 755 $(JNI_LIB) "$$root/$$libdir/libp2psync_jni.so"; \
	install -D -m 644 $$stage/p2psync-$(VERSION).jar "$$root/share/java/p2psync-$(VERSION).jar"; \
	ln -sf p2psync-$(VERSION).jar "$$root/share/java/p2psync.jar"; \
	install -D -m 644 $$stage/p2psync-$(VERSION).jar "$$root/$(MAVEN_DIR)/p2psync-$(VERSION).jar"; \
	install -D -m 644 $$stage/p2psync-$(VERSION).pom "$$root/$(MAVEN_DIR)/p2psync-$(VERSION).pom"
else
	@echo "kotlinc not found (or KOTLIN=no): the JVM binding is not installed"
endif

uninstall: install-configure
	@libdir=$(install_libdir); root="$(DESTDIR)$(PREFIX)"; set -x; \
	rm -f "$$root/include/p2psync.h" \
	  "$$root/$$libdir"/libp2psync.so "$$root/$$libdir"/libp2psync.so.$(MAJOR) "$$root/$$libdir"/libp2psync.so.$(VERSION) \
	  "$$root/$$libdir/libp2psync_jni.so" "$$root/$$libdir/pkgconfig/p2psync.pc" \
	  "$$root/$$libdir/cmake/p2psync/p2psyncConfig.cmake" "$$root/$$libdir/cmake/p2psync/p2psyncConfigVersion.cmake" \
	  "$$root/share/java/p2psync-$(VERSION).jar" "$$root/share/java/p2psync.jar" \
	  "$$root/$(MAVEN_DIR)/p2psync-$(VERSION).jar" "$$root/$(MAVEN_DIR)/p2psync-$(VERSION).pom"; \
	for d in "$$root/$$libdir/cmake/p2psync" "$$root/$(MAVEN_DIR)" "$$root/share/maven-repo/org/p2psync/p2psync" \
	         "$$root/share/maven-repo/org/p2psync"; do \
	  if [ -d "$$d" ]; then rmdir --ignore-fail-on-non-empty "$$d"; fi; \
	done

# A wheel with libp2psync.so inside, built offline by the package's own backend
# (bindings/python/_build, standard library only) and tagged manylinux_X_Y_ARCH from the
# library's glibc symbol versions and DT_NEEDED: pip install build/python/p2psync-*.whl
PY_DIST := $(BUILD)/python
python-package: build
	rm -rf $(PY_DIST)
	P2PSYNC_LIBRARY=$(LIB) $(PYTHON) -m pip wheel --no-build-isolation --no-deps --no-index -q \
	  -w $(PY_DIST) bindings/python
	@echo "built $$(ls $(PY_DIST)/*.whl)"

# The jar and the native libraries for JVM users: run with
#   java -Dp2psync.library.path=build/lib -cp build/kotlin/p2psync.jar:/usr/share/java/kotlin-stdlib.jar:...
kotlin: build $(JNI_LIB) $(KT_JAR)

# make docs: the C API reference (Doxygen, from the header's comments through
# docs/doxygen.sed, with examples/c on its Examples page) in build/docs/c/index.html, the
# Python API (pydoc, with the docstrings' >>> examples) in build/docs/python/p2psync.html
# and the Kotlin API (KDoc rendered by docs/kdoc.py: Debian has no Dokka, with
# examples/kotlin and the README quickstart) in build/docs/kotlin/index.html. The examples
# all run in tests (ctest, tests/python/test_docs.py, make test-kotlin). Doxygen is
# Debian's `doxygen` (tests/setup-tools.sh docs).
DOCS_DIR := $(BUILD)/docs
PY_DOC_MODULES := p2psync p2psync.database p2psync.replication p2psync.security p2psync.blob p2psync.log \
                  p2psync.errors p2psync.cli
docs: build $(KT_DIR)/readme/Quickstart.kt
	@command -v doxygen >/dev/null || { echo "make docs needs doxygen: bash tests/setup-tools.sh docs" >&2; exit 1; }
	rm -rf $(DOCS_DIR) && mkdir -p $(DOCS_DIR)/python
	{ cat docs/Doxyfile; echo "OUTPUT_DIRECTORY = $(DOCS_DIR)"; echo "PROJECT_NUMBER = $(VERSION)"; \
	  echo "WARN_LOGFILE = $(DOCS_DIR)/doxygen-warnings.txt"; } | doxygen -
	cd $(DOCS_DIR)/python && P2PSYNC_LIBRARY=$(LIB) PYTHONPATH=$(CURDIR)/bindings/python \
	  $(PYTHON) -m pydoc -w $(PY_DOC_MODULES) >/dev/null
	$(PYTHON) docs/kdoc.py bindings/kotlin/src $(DOCS_DIR)/kotlin/index.html $(KT_EXAMPLES) $(KT_README)
	@echo "C API: $(DOCS_DIR)/c/index.html; Python: $(DOCS_DIR)/python/p2psync.html; Kotlin: $(DOCS_DIR)/kotlin/index.html"

tools:
	@bash tests/setup-tools.sh test

tools-demo:
	@bash tests/setup-tools.sh demo

# ------------------------------------------------------------------ test

# Every suite runs even if an earlier one failed, so one run shows every failure.
TEST_SUITES := test-go test-c test-python test-kotlin
test: tools
	$(MAKE) --no-print-directory build
	@failed=""; for suite in $(TEST_SUITES); do \
	  echo "==== $$suite"; \
	  $(MAKE) --no-print-directory $$suite || failed="$$failed $$suite"; \
	done; \
	if [ -n "$$failed" ]; then echo "FAILED suites:$$failed"; exit 1; fi; \
	echo "all test suites passed"

test-go:
	CGO_ENABLED=1 $(GO) test -race ./engine/... ./capi/...
	@# Resident-size bounds hold only without the race detector (its shadow memory stays).
	CGO_ENABLED=1 $(GO) test -run 'TestHostileInputMemory' ./engine/listener/

# CMake drives the C tests. It is pointed at build/lib, where the library it would
# build with `go build` already is, so the custom command finds it up to date.
test-c: build
	cmake -S . -B $(BUILD)/cmake -DP2PSYNC_LIBRARY_DIR=$(LIB_DIR) -DP2PSYNC_BUILD_TESTS=ON >/dev/null
	cmake --build $(BUILD)/cmake -j2 -- --no-print-directory
	ctest --test-dir $(BUILD)/cmake --output-on-failure -j2

test-python: build
	P2PSYNC_LIBRARY=$(LIB) PYTHONPATH=$(CURDIR)/bindings/python \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/python

$(KT_JAR): $(KT_SRC)
	@mkdir -p $(KT_DIR)
	$(KOTLINC) -jvm-target $(KT_JVM_TARGET) -nowarn -d $@ $(KT_SRC) 2>&1 | { grep -v -- '-Xverify:none' || true; }
	@test -s $@

$(JNI_LIB): bindings/kotlin/jni/p2psync_jni.c include/p2psync.h $(LIB)
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -shared -fPIC \
	  -I$(JAVA_HOME)/include -I$(JAVA_HOME)/include/linux -Iinclude \
	  -o $@ $< -L$(LIB_DIR) -lp2psync -Wl,-rpath,'$$ORIGIN'

# The README's Kotlin quickstart is compiled with the tests and run after them.
KT_README := $(KT_DIR)/readme/Quickstart.kt
$(KT_README): README.md
	@mkdir -p $(dir $@)
	awk '/^```kotlin$$/{f=1;next} /^```$$/{f=0} f' $< > $@
	@test -s $@

# The examples under examples/kotlin are compiled with the tests too, and run after them.
KT_EXAMPLES := $(wildcard examples/kotlin/*.kt)

$(KT_TESTS): $(KT_TEST_SRC) $(KT_README) $(KT_EXAMPLES) $(KT_JAR)
	$(KOTLINC) -jvm-target $(KT_JVM_TARGET) -nowarn -cp $(KT_JAR):$(JAVA_LIB)/junit4.jar:$(JAVA_LIB)/hamcrest-core.jar \
	  -d $@ $(KT_TEST_SRC) $(KT_README) $(KT_EXAMPLES) 2>&1 | { grep -v -- '-Xverify:none' || true; }
	@test -s $@

test-kotlin: build $(JNI_LIB) $(KT_JAR) $(KT_TESTS)
	$(JAVA) -Djava.library.path=$(LIB_DIR) -cp $(KT_RUN_CP) org.junit.runner.JUnitCore $(KT_TEST_CLASSES)
	$(JAVA) -Djava.library.path=$(LIB_DIR) -cp $(KT_RUN_CP) QuickstartKt | tee $(KT_DIR)/readme/out.txt
	grep -q '^note-1 = {"text":"hello, world"}$$' $(KT_DIR)/readme/out.txt
	$(JAVA) -Dp2psync.library.path=$(LIB_DIR) -cp $(KT_RUN_CP) SyncExampleKt | tee $(KT_DIR)/example-out.txt
	grep -q '^example OK$$' $(KT_DIR)/example-out.txt

# ------------------------------------------------------------------ lint

lint:
	@out=$$(gofmt -l capi engine tests 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt -l:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(CC) -std=c99 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c include/p2psync.h
	$(CXX) -std=c++11 -Wall -Wextra -Werror -pedantic -fsyntax-only -x c++ include/p2psync.h
	bash tests/c/check_exports.sh include/p2psync.h include/p2psync.exports
	$(PYTHON) -m py_compile $$(find bindings/python tests/python examples docs -name '*.py')

# ------------------------------------------------------------------ fuzz, bench, demo

# Runs every Go fuzz target under engine/ for FUZZTIME each.
fuzz: tools-demo
	@for pkg in $$($(GO) list ./engine/...); do \
	  for target in $$($(GO) test -list 'Fuzz.*' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$target ($(FUZZTIME))"; \
	    $(GO) test -run '^$$' -fuzz "^$$target\$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

# Runs every Go main under tests/bench/*/ except the shared workload package, then W8 from the bindings (tests/python/bench_*.py,
# tests/kotlin/*Bench.kt), which run tests/bench/store -engine-only -many -nobody as their baseline.
BENCH_STORE := $(BUILD)/bench/store-bench

bench: tools-demo
	@for dir in tests/bench/*/; do \
	  name=$$(basename $$dir); \
	  [ "$$name" = workload ] && continue; \
	  grep -qs '^package main' $$dir*.go || continue; \
	  echo "== bench $$name"; \
	  $(GO) run ./tests/bench/$$name; \
	done
	$(MAKE) --no-print-directory bench-bindings

bench-bindings: build
	@mkdir -p $(dir $(BENCH_STORE))
	$(GO) build -o $(BENCH_STORE) ./tests/bench/store
	@for f in tests/python/bench_*.py; do \
	  echo "== bench $$f"; \
	  P2PSYNC_LIBRARY=$(LIB) PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) $$f --engine $(BENCH_STORE); \
	done
ifeq ($(KOTLIN),yes)
	$(MAKE) --no-print-directory $(JNI_LIB) $(KT_JAR) $(KT_TESTS)
	@for c in $(patsubst tests/kotlin/%.kt,org.p2psync.test.%Kt,$(wildcard tests/kotlin/*Bench.kt)); do \
	  echo "== bench $$c"; \
	  $(JAVA) -Djava.library.path=$(LIB_DIR) -cp $(KT_RUN_CP) $$c $(BENCH_STORE); \
	done
else
	@echo "kotlinc not found (or KOTLIN=no): the Kotlin benchmark is skipped"
endif

demo: tools-demo
	$(MAKE) --no-print-directory build
	P2PSYNC_LIBRARY=$(LIB) PYTHONPATH=$(CURDIR)/bindings/python $(PYTHON) bindings/python/examples/demo.py

clean:
	rm -rf build
