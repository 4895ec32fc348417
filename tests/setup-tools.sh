#!/usr/bin/env bash
# setup-tools.sh — installs what `make demo` or `make test` needs on a fresh machine.
#
#   tests/setup-tools.sh demo   Go modules only (the demo needs Go, gcc and python3)
#   tests/setup-tools.sh test   also cmake, pytest, JUnit 4, Kotlin 1.3, a JDK, doxygen and Maven
#   tests/setup-tools.sh docs   doxygen (`make docs`)
#
# Missing Debian packages are installed with apt-get when running as root; otherwise
# the exact command is printed and the script fails. Go itself is not a Debian package
# here (Debian's golang is too old for go.mod): it must already be on PATH.
set -euo pipefail

mode=${1:-test}
cd "$(dirname "$0")/.."

need_cmd() { command -v "$1" >/dev/null 2>&1; }

if ! need_cmd go; then
    echo "setup-tools: 'go' is not on PATH; install Go (at least the version in go.mod) first" >&2
    exit 1
fi

missing=()
need_cmd gcc || missing+=(gcc)  # cgo builds the shared library
if [ "$mode" = test ]; then
    need_cmd g++ || missing+=(g++)  # the header must compile as C++
    need_cmd cmake || missing+=(cmake)
    need_cmd pkg-config || missing+=(pkg-config)
    /usr/bin/python3 -m pytest --version >/dev/null 2>&1 || missing+=(python3-pytest)
    # `make python-package` (and its test) builds a wheel offline (the package's own
    # backend: no setuptools) and installs it in a venv; objdump (binutils) checks its tag.
    /usr/bin/python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    need_cmd objdump || missing+=(binutils)
    /usr/bin/python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
    [ -f /usr/share/java/junit4.jar ] || missing+=(junit4)
    [ -f /usr/share/java/hamcrest-core.jar ] || missing+=(libhamcrest-java)
    need_cmd kotlinc || missing+=(kotlin)
    # JNI headers and javac come with the JDK, not the JRE.
    ls /usr/lib/jvm/java-17-openjdk-*/include/jni.h >/dev/null 2>&1 || missing+=(openjdk-17-jdk-headless)
    need_cmd doxygen || missing+=(doxygen)  # tests/python/test_docs.py runs `make docs`
    # tests/python/test_packaging.py builds a Java program with Maven (offline, from Debian's
    # /usr/share/maven-repo) against the installed pom; the compiler plugin's dependencies
    # import org.junit:junit-bom, which Debian ships in junit5.
    need_cmd mvn || missing+=(maven)
    [ -f /usr/share/maven-repo/org/junit/junit-bom/debian/junit-bom-debian.pom ] || missing+=(junit5)
elif [ "$mode" = docs ]; then
    need_cmd doxygen || missing+=(doxygen)
elif [ "$mode" != demo ]; then
    echo "usage: $0 demo|test|docs" >&2
    exit 2
fi
[ -x /usr/bin/python3 ] || missing+=(python3)

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ]; then
        echo "setup-tools: installing ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    else
        echo "setup-tools: missing Debian packages; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
fi

go mod download
