"""Packaging as users meet it: `make install` (PREFIX/DESTDIR) and the Python wheel with
the library bundled (`make python-package`), installed into a fresh virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from tooling import needs_tools

ROOT = Path(__file__).resolve().parents[2]
HEADER = (ROOT / "include" / "p2psync.h").read_text()
VERSION = re.search(r'#define P2P_VERSION_STRING "([0-9.]+)"', HEADER).group(1)
# A make started from inside `make test` must not inherit its jobserver or level.
MAKE_ENV = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}


LIB_REAL = ROOT / "build" / "lib" / f"libp2psync.so.{VERSION}"


def make(*args: str) -> None:
    # -o: use the library the suite runs against; never rebuild it under the other tests.
    res = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "-o", str(LIB_REAL), *args], capture_output=True, text=True,
                         env=MAKE_ENV, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr


def test_make_install_with_prefix_and_destdir(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    make("install", f"DESTDIR={stage}", "PREFIX=/usr")
    prefix = stage / "usr"
    libdirs = [p.parent for p in prefix.glob("lib*/**/libp2psync.so")]
    assert len(libdirs) == 1, f"libp2psync.so installed {len(libdirs)} times under {prefix}"
    lib = libdirs[0]
    assert (lib / f"libp2psync.so.{VERSION}").is_file()
    assert os.readlink(lib / "libp2psync.so") == f"libp2psync.so.{VERSION.split('.')[0]}"
    assert os.readlink(lib / f"libp2psync.so.{VERSION.split('.')[0]}") == f"libp2psync.so.{VERSION}"
    assert (prefix / "include" / "p2psync.h").read_text() == HEADER
    assert (lib / "cmake" / "p2psync" / "p2psyncConfig.cmake").is_file()

    # The relocatable .pc file must point back into the staged tree, whatever LIBDIR's depth.
    env = {**os.environ, "PKG_CONFIG_PATH": str(lib / "pkgconfig")}
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "p2psync"], capture_output=True, text=True,
                           env=env, check=True).stdout.split()
    inc = Path(next(f[2:] for f in flags if f.startswith("-I"))).resolve()
    libflag = Path(next(f[2:] for f in flags if f.startswith("-L"))).resolve()
    assert inc == (prefix / "include").resolve() and libflag == lib.resolve()
    exe = tmp_path / "consumer"
    subprocess.run(["cc", str(ROOT / "tests" / "c" / "consumer" / "main.c"), *flags, f"-Wl,-rpath,{lib}",
                    "-o", str(exe)], check=True, timeout=120)
    subprocess.run([str(exe)], check=True, timeout=60)


# What auditwheel allows a manylinux wheel to need from the system (the glibc C runtime).
MANYLINUX_ALLOWED = {"libc.so.6", "libm.so.6", "libdl.so.2", "librt.so.1", "libpthread.so.0", "libutil.so.1",
                     "libnsl.so.1", "libresolv.so.2", "libcrypt.so.1", "libgcc_s.so.1", "libstdc++.so.6",
                     "libatomic.so.1", "libz.so.1", "libexpat.so.1", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def expected_platform_tag(lib: Path) -> str:
    """The tag binutils' view of the library allows: newest GLIBC_X.Y symbol, DT_NEEDED allow-listed."""
    symbols = subprocess.run(["objdump", "-T", str(lib)], capture_output=True, text=True, check=True).stdout
    versions = {tuple(map(int, m)) for m in re.findall(r"GLIBC_(\d+)\.(\d+)", symbols)}
    headers = subprocess.run(["objdump", "-p", str(lib)], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", headers, re.M)
    assert needed and set(needed) <= MANYLINUX_ALLOWED, f"not uploadable as manylinux: needs {needed}"
    arch = re.search(r"file format elf64-([\w-]+)", headers).group(1).replace("x86-64", "x86_64")
    major, minor = max(versions)
    return f"manylinux_{major}_{minor}_{arch}"


def check_wheel_record(wheel: Path) -> None:
    """RECORD lists every other file of the wheel with its size and urlsafe-base64 SHA-256
    (what installers and upload checks verify), and WHEEL's tag matches the file name."""
    import base64
    import hashlib
    import zipfile
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = f"p2psync-{VERSION}.dist-info"
        record = {}
        for line in zf.read(f"{info}/RECORD").decode().splitlines():
            path, digest, size = line.rsplit(",", 2)
            record[path] = (digest, size)
        assert set(record) == set(names)
        for name in names:
            if name == f"{info}/RECORD":
                assert record[name] == ("", "")
                continue
            data = zf.read(name)
            want = "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert record[name] == (want, str(len(data))), name
        tag = wheel.name[len(f"p2psync-{VERSION}-"):-len(".whl")]
        assert f"Tag: {tag}\n" in zf.read(f"{info}/WHEEL").decode()
        metadata = zf.read(f"{info}/METADATA").decode()
        assert f"Name: p2psync\nVersion: {VERSION}\n" in metadata and "Requires-Python: >=3.8" in metadata


def test_wheel_bundles_the_library(tmp_path: Path) -> None:
    make("python-package")
    wheels = list((ROOT / "build" / "python").glob("p2psync-*.whl"))
    assert len(wheels) == 1
    assert wheels[0].name.startswith(f"p2psync-{VERSION}-py3-none-")
    assert wheels[0].name.endswith(f"-{expected_platform_tag(LIB_REAL)}.whl"), wheels[0].name
    check_wheel_record(wheels[0])

    # No P2PSYNC_LIBRARY, no PYTHONPATH (pip would take the source tree for an installed
    # copy), another directory: only the bundled library can load.
    env = {k: v for k, v in os.environ.items() if k not in ("P2PSYNC_LIBRARY", "PYTHONPATH")}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120, env=env)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-index", "--no-deps", str(wheels[0])], check=True, timeout=300, env=env, cwd=tmp_path)
    db = tmp_path / "db"
    script = venv / "bin" / "p2psync"
    run = lambda *a: subprocess.run([str(script), *a], capture_output=True, text=True, env=env, cwd=tmp_path,
                                    timeout=60)
    assert run("--version").stdout.startswith(f"p2psync {VERSION}")
    assert run("put", str(db), "d", '{"ok": true}').returncode == 0
    assert run("get", str(db), "d").stdout.strip() == '{"ok":true}'
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import p2psync._ffi as f; print(f.__file__)"],
                           capture_output=True, text=True, env=env, cwd=tmp_path, check=True).stdout
    assert where.startswith(str(venv))
    # A library that cannot be loaded is one line from the console script, not a traceback.
    broken = subprocess.run([str(script), "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                            env={**env, "P2PSYNC_LIBRARY": str(tmp_path / "missing.so")})
    assert broken.returncode == 1
    assert broken.stderr.startswith("p2psync: cannot load libp2psync:") and broken.stderr.count("\n") == 1
    shutil.rmtree(venv)


@needs_tools("gcc", "g++")
def test_wheel_platform_tag_follows_the_manylinux_rules(tmp_path: Path) -> None:
    """The backend's tag for small libraries built here: the newest GLIBC_X.Y symbol version
    with the architecture's floor, and linux_ARCH (not uploadable) for a dependency outside
    the allow-list or a symbol version auditwheel limits per policy (GLIBCXX_ here)."""
    sys.path.insert(0, str(ROOT / "bindings" / "python" / "_build"))
    try:
        import p2psync_build
    finally:
        sys.path.pop(0)
    arch = p2psync_build.read_elf(LIB_REAL).arch

    def build(name: str, source: str, *flags: str, compiler: str = "gcc") -> Path:
        src = tmp_path / (name + (".cpp" if compiler == "g++" else ".c"))
        src.write_text(source)
        out = tmp_path / f"lib{name}.so"
        subprocess.run([compiler, "-shared", "-fPIC", "-o", str(out), str(src), *flags], check=True, timeout=120,
                       cwd=tmp_path)
        return out

    plain = build("plain", "int plain(int x) { return x + 1; }\n")
    floor = {"x86_64": "2_5", "i686": "2_5"}.get(arch, "2_17")
    assert p2psync_build.platform_tag(plain) == (f"manylinux_{floor}_{arch}", None)

    # getrandom appeared in glibc 2.25: the tag follows the newest version the library needs.
    newer = build("newer", "#include <sys/random.h>\n"
                           "long r(void *b) { return getrandom(b, 8, 0); }\n")
    info = p2psync_build.read_elf(newer)
    assert (2, 25) in info.glibc and info.other_versions == []
    newest = max(info.glibc)
    assert p2psync_build.platform_tag(newer) == (f"manylinux_{newest[0]}_{newest[1]}_{arch}", None)

    outside = build("outside", "int plain(int);\nint twice(int x) { return plain(plain(x)); }\n",
                    f"-L{tmp_path}", "-lplain")
    tag, reason = p2psync_build.platform_tag(outside)
    assert tag == f"linux_{arch}" and "libplain.so" in reason and "allow-list" in reason

    cxx = build("cxx", '#include <string>\nextern "C" unsigned long len(const char *s) { return std::string(s).size(); }\n',
                compiler="g++")
    tag, reason = p2psync_build.platform_tag(cxx)
    assert tag == f"linux_{arch}" and "libstdc++.so.6: GLIBCXX_" in reason, reason


LIBRARY_SIZE_LIMIT = 18 * 1024 * 1024  # 14.8 MB stripped on x86_64 (20.3 MB before -s -w)


def test_library_is_stripped_and_trimmed() -> None:
    """`make build` strips the symbol table and DWARF (-s -w) and the build paths
    (-trimpath): no .symtab or .debug_* section, no path of this checkout, the Go module
    cache or GOROOT inside; the exported API is still in the dynamic symbol table."""
    headers = subprocess.run(["objdump", "-h", str(LIB_REAL)], capture_output=True, text=True, check=True).stdout
    sections = re.findall(r"^\s*\d+\s+(\S+)", headers, re.M)
    assert ".dynsym" in sections and [s for s in sections if s == ".symtab" or s.startswith(".debug")] == []
    data = LIB_REAL.read_bytes()
    paths = [str(ROOT)]
    for var in ("GOMODCACHE", "GOROOT"):
        res = subprocess.run(["go", "env", var], capture_output=True, text=True)
        if res.returncode == 0 and res.stdout.strip():
            paths.append(res.stdout.strip())
    assert [p for p in paths if p.encode() in data] == []
    dynamic = subprocess.run(["objdump", "-T", str(LIB_REAL)], capture_output=True, text=True, check=True).stdout
    assert re.search(r"\sp2p_version$", dynamic, re.M) and not re.search(r"\sp2pgo_", dynamic)
    assert len(data) < LIBRARY_SIZE_LIMIT, f"libp2psync is {len(data)} bytes"


def test_python_package_version_matches_header() -> None:
    pyproject = (ROOT / "bindings" / "python" / "pyproject.toml").read_text()
    assert f'version = "{VERSION}"' in pyproject


def test_pip_install_source_tree_offline_in_fresh_venv(tmp_path: Path) -> None:
    """`pip install bindings/python` in a new venv (its own pip, no index, no setuptools)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env["P2PSYNC_LIBRARY"] = str(LIB_REAL)
    env["PIP_NO_INDEX"] = "1"
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True, timeout=300, env=env)
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-index", str(ROOT / "bindings" / "python")],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    del env["P2PSYNC_LIBRARY"]  # the installed copy must carry its own library
    out = subprocess.run([str(venv / "bin" / "p2psync"), "--version"], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith(f"p2psync {VERSION}"), out.stdout + out.stderr
    assert list((venv / "lib").glob("python3*/site-packages/p2psync/libp2psync.so"))
    # The build leaves nothing behind in the source tree.
    assert not list((ROOT / "bindings" / "python").glob("*.egg-info"))
    assert not (ROOT / "bindings" / "python" / "build").exists()


KOTLIN_PROGRAM = """
import org.p2psync.Database
import org.p2psync.P2PSync

fun main(args: Array<String>) {
    Database.open(args[0]).use { db ->
        db.defaultCollection().use { notes ->
            notes.save("n1", "{\\"installed\\":true}")
            println("got " + notes.get("n1").json)
        }
    }
    println("version " + P2PSync.libraryVersion + " live " + P2PSync.liveHandles())
}
"""


def class_major_versions(jar: Path) -> set:
    import zipfile
    with zipfile.ZipFile(jar) as zf:
        return {int.from_bytes(zf.read(n)[6:8], "big") for n in zf.namelist() if n.endswith(".class")}


@needs_tools("kotlinc")
def test_make_install_jvm_binding_then_uninstall(tmp_path: Path) -> None:
    """The jar, its pom in a file Maven repository and the JNI library; a Kotlin program built
    against the installed jar runs with no -D flag; make uninstall leaves nothing behind."""
    import xml.etree.ElementTree as ET
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}")
    lib = next(p.parent for p in prefix.glob("lib*/**/libp2psync.so"))
    assert (lib / "libp2psync_jni.so").is_file()
    assert os.readlink(prefix / "share" / "java" / "p2psync.jar") == f"p2psync-{VERSION}.jar"
    repo = prefix / "share" / "maven-repo"
    artifact = repo / "org" / "p2psync" / "p2psync" / VERSION
    jar, pom = artifact / f"p2psync-{VERSION}.jar", artifact / f"p2psync-{VERSION}.pom"
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    root = ET.parse(pom).getroot()
    assert [root.findtext(f"m:{k}", namespaces=ns) for k in ("groupId", "artifactId", "version", "packaging")] == \
        ["org.p2psync", "p2psync", VERSION, "jar"]
    dep = root.find("m:dependencies/m:dependency", ns)
    stdlib = Path("/usr/share/maven-repo") / "org" / "jetbrains" / "kotlin" / "kotlin-stdlib" / \
        dep.findtext("m:version", namespaces=ns)
    assert dep.findtext("m:artifactId", namespaces=ns) == "kotlin-stdlib" and stdlib.is_dir(), stdlib
    # Compiled for the JVM level it needs (java.lang.ref.Cleaner: Java 9, class major 53).
    assert class_major_versions(jar) == {53}

    src = tmp_path / "App.kt"
    src.write_text(KOTLIN_PROGRAM)
    app = tmp_path / "app.jar"
    res = subprocess.run(["kotlinc", "-jvm-target", "9", "-nowarn", "-cp", str(jar), "-d", str(app), str(src)],
                         capture_output=True, text=True, timeout=600)
    assert app.is_file(), res.stdout + res.stderr
    java = str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "java")
    cp = f"{app}:{jar}:/usr/share/java/kotlin-stdlib.jar"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH",)}
    out = subprocess.run([java, "-cp", cp, "AppKt", str(tmp_path / "db")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == ['got {"installed":true}', f"version {VERSION} live 0"]

    make("uninstall", f"PREFIX={prefix}")
    left = [str(p.relative_to(prefix)) for p in prefix.rglob("*") if not p.is_dir()]
    assert left == [], f"make uninstall left {left}"


JAVA_PROGRAM = """
import org.p2psync.Collection;
import org.p2psync.Database;
import org.p2psync.InvalidArgumentException;
import org.p2psync.P2PSync;

public class App {
    public static void main(String[] args) {
        try (Database db = Database.open(args[0]); Collection notes = db.defaultCollection()) {
            notes.save("n1", "{\\"maven\\":true}");
            System.out.println("got " + notes.get("n1").getJson());
        }
        try {
            Database.open("");
        } catch (IllegalArgumentException e) {
            System.out.println("refused " + ((InvalidArgumentException) e).getCode());
        }
        System.out.println("version " + P2PSync.getLibraryVersion() + " live " + P2PSync.liveHandles());
    }
}
"""

DEBIAN_MAVEN_REPO = Path("/usr/share/maven-repo")


def newest_plugin_version(artifact: str) -> str:
    """The newest version of a Maven plugin Debian installed (with its jar) in its repository."""
    versions = [p.parent.name for p in (DEBIAN_MAVEN_REPO / "org" / "apache" / "maven" / "plugins" / artifact).glob("*/*.jar")
                if p.parent.name[0].isdigit()]
    assert versions, f"no {artifact} in {DEBIAN_MAVEN_REPO}"
    return max(versions, key=lambda v: tuple(int(x) for x in re.findall(r"\d+", v)))


@needs_tools("kotlinc", "mvn")
def test_maven_build_resolves_the_installed_jar_from_a_file_repository(tmp_path: Path) -> None:
    """A Maven project that declares org.p2psync:p2psync:VERSION and PREFIX/share/maven-repo as
    a repository compiles with no network (Debian's /usr/share/maven-repo stands in for Maven
    Central, for the compiler plugin and kotlin-stdlib); Maven copies the jar and, through the
    pom, kotlin-stdlib into its local repository, and the program runs from those two jars
    with no -D flag and no LD_LIBRARY_PATH."""
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}")
    project = tmp_path / "app"
    (project / "src").mkdir(parents=True)
    (project / "src" / "App.java").write_text(JAVA_PROGRAM)
    (project / "pom.xml").write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId>
  <artifactId>app</artifactId>
  <version>1</version>
  <properties>
    <maven.compiler.release>9</maven.compiler.release>
    <project.build.sourceEncoding>UTF-8</project.build.sourceEncoding>
  </properties>
  <repositories>
    <repository><id>p2psync</id><url>{(prefix / "share" / "maven-repo").as_uri()}</url></repository>
  </repositories>
  <dependencies>
    <dependency><groupId>org.p2psync</groupId><artifactId>p2psync</artifactId><version>{VERSION}</version></dependency>
  </dependencies>
  <build><sourceDirectory>src</sourceDirectory></build>
</project>
""")
    local = tmp_path / "m2"
    settings = tmp_path / "settings.xml"
    settings.write_text(f"""<settings>
  <localRepository>{local}</localRepository>
  <mirrors><mirror><id>debian</id><mirrorOf>central</mirrorOf><url>{DEBIAN_MAVEN_REPO.as_uri()}</url></mirror></mirrors>
</settings>
""")
    # The compiler goal on its own: Debian packages no resources plugin for the full lifecycle.
    goal = f"org.apache.maven.plugins:maven-compiler-plugin:{newest_plugin_version('maven-compiler-plugin')}:compile"
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "MAVEN_OPTS")}
    res = subprocess.run(["mvn", "-B", "-q", "-s", str(settings), goal], capture_output=True, text=True,
                         cwd=project, env=env, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    assert (project / "target" / "classes" / "App.class").is_file()
    resolved = local / "org" / "p2psync" / "p2psync" / VERSION / f"p2psync-{VERSION}.jar"
    assert resolved.read_bytes() == (prefix / "share" / "java" / f"p2psync-{VERSION}.jar").read_bytes()
    stdlib = list((local / "org" / "jetbrains" / "kotlin" / "kotlin-stdlib").glob("*/kotlin-stdlib-*.jar"))
    assert len(stdlib) == 1, stdlib  # the pom's dependency, resolved transitively

    java = str(Path(os.environ.get("JAVA_HOME", "/usr")) / "bin" / "java")
    cp = os.pathsep.join(map(str, [project / "target" / "classes", resolved, stdlib[0]]))
    out = subprocess.run([java, "-cp", cp, "App", str(tmp_path / "db")], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, env=env)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.splitlines() == ['got {"maven":true}', "refused -1", f"version {VERSION} live 0"]


def test_sdist_without_library_finds_an_installed_one(tmp_path: Path) -> None:
    """The source distribution builds a pure wheel offline; it loads the library of a
    `make install` prefix through LD_LIBRARY_PATH, and says what to do without it."""
    prefix = tmp_path / "prefix"
    make("install", f"PREFIX={prefix}", "KOTLIN=no")
    lib = next(p.parent for p in prefix.glob("lib*/**/libp2psync.so"))
    assert not (lib / "libp2psync_jni.so").exists()  # KOTLIN=no

    sys.path.insert(0, str(ROOT / "bindings" / "python" / "_build"))
    try:
        import p2psync_build
        sdist = tmp_path / p2psync_build.build_sdist(str(tmp_path))
    finally:
        sys.path.pop(0)
    env = {k: v for k, v in os.environ.items() if k not in ("P2PSYNC_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True, timeout=300, env=env)
    res = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-index", str(sdist)],
                         capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout + res.stderr
    assert not list((venv / "lib").glob("python3*/site-packages/p2psync/libp2psync.so"))
    script = str(venv / "bin" / "p2psync")
    ok = subprocess.run([script, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                        env={**env, "LD_LIBRARY_PATH": str(lib)})
    assert ok.returncode == 0 and ok.stdout.startswith(f"p2psync {VERSION}"), ok.stdout + ok.stderr
    import ctypes.util
    if ctypes.util.find_library("p2psync") is None:  # no system-wide install on this machine
        missing = subprocess.run([script, "--version"], capture_output=True, text=True, cwd=tmp_path, timeout=60,
                                 env=env)
        assert missing.returncode == 1 and missing.stderr.count("\n") == 1, missing.stderr
        assert "LD_LIBRARY_PATH=DIR/lib" in missing.stderr
