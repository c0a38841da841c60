"""The container image, checked without building it (no Docker engine here): the Dockerfile's shape,
and deploy/runtime-packages.txt (the one list of runtime Debian packages) against what the built
executables actually link (ldd, each library mapped to its Debian package with dpkg -S)."""

import functools
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, executable

DOCKERFILE = (ROOT / "Dockerfile").read_text()
PACKAGES_FILE = ROOT / "deploy" / "runtime-packages.txt"
EXECUTABLES = ["BatchSync", "StreamSync"]
# In debian:bookworm-slim whatever we install: the C library itself.
BASE_IMAGE_PACKAGES = {"libc6"}


def runtime_packages() -> list:
    names = []
    for line in PACKAGES_FILE.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            assert re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", line), f"one package name per line: {line!r}"
            names.append(line)
    return names


def swift_runtime_dir() -> Path:
    swift = shutil.which("swift")
    assert swift, "swift not on PATH"
    return Path(os.path.realpath(swift)).parent.parent / "lib" / "swift" / "linux"


@functools.lru_cache(maxsize=None)
def linked_libraries(name: str) -> dict:
    """soname -> resolved path of every shared library `ldd` loads for the executable."""
    result = subprocess.run(["ldd", str(executable(name))], capture_output=True, text=True, check=True)
    libraries = {}
    for line in result.stdout.splitlines():
        match = re.match(r"\s*(\S+) => (\S+) \(", line)
        if match:
            libraries[match.group(1)] = match.group(2)
        elif "not found" in line:
            pytest.fail(f"{name}: {line.strip()}")
    return libraries


@functools.lru_cache(maxsize=None)
def package_of(path: str) -> str:
    """The Debian package owning a library file (dpkg -S), trying the /usr-merged spellings."""
    candidates = [path, os.path.realpath(path)]
    for p in list(candidates):
        if p.startswith("/usr/lib/"):
            candidates.append(p[len("/usr"):])
        elif p.startswith("/lib/"):
            candidates.append("/usr" + p)
    for candidate in candidates:
        result = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.split(":", 1)[0].split(",")[0].strip()
    pytest.fail(f"no Debian package owns {path}")


@functools.lru_cache(maxsize=None)
def installed_depends(package: str) -> tuple:
    result = subprocess.run(["dpkg-query", "-W", "-f=${Depends}, ${Pre-Depends}", package],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return ()
    names = []
    for clause in result.stdout.split(","):
        for alternative in clause.split("|"):
            name = alternative.strip().split(" ", 1)[0].split(":", 1)[0]
            if name:
                names.append(name)
    return tuple(names)


def dependency_closure(packages) -> set:
    seen, todo = set(), list(packages)
    while todo:
        package = todo.pop()
        if package not in seen:
            seen.add(package)
            todo.extend(installed_depends(package))
    return seen


def test_dockerfile_shape():
    stages = re.findall(r"^FROM\s+(\S+)(?:\s+AS\s+(\S+))?", DOCKERFILE, re.M | re.I)
    assert stages[0][0] == "swift:6.3-bookworm", "build on the official Swift 6.3 image"
    assert stages[-1][0] == "debian:bookworm-slim", "run on slim Debian"
    for name in EXECUTABLES:
        assert re.search(rf"swift build -c release --static-swift-stdlib --product {name}\b", DOCKERFILE), name
        assert f"/usr/local/bin/{name}" in DOCKERFILE or f"/out/{name}" in DOCKERFILE
    build = DOCKERFILE.split(stages[-1][0], 1)[0]
    for dev in re.findall(r'\.apt\(\["([a-z0-9.+-]+)"\]\)', (ROOT / "Package.swift").read_text()):
        assert re.search(rf"\b{re.escape(dev)}\b", build), f"build stage lacks {dev}, which Package.swift declares"
    runtime = DOCKERFILE.split(stages[-1][0], 1)[1]
    assert "deploy/runtime-packages.txt" in runtime, "the runtime stage installs the one package list"
    assert "/usr/lib/swift" not in runtime, "Swift runtime is static; nothing copied from the toolchain"
    user = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert user and user[-1].split(":")[0].isdigit() and int(user[-1].split(":")[0]) > 0, "numeric non-root USER"
    assert runtime.count("apt-get install") == 1, "the runtime stage installs only the listed packages"


def test_runtime_package_list_is_well_formed():
    packages = runtime_packages()
    assert len(packages) == len(set(packages)), "duplicates"
    assert not [p for p in packages if p.endswith("-dev")], "no -dev packages at run time"


@pytest.mark.parametrize("name", EXECUTABLES)
def test_every_linked_library_is_provided(name):
    """Every shared library the executable loads, outside the Swift runtime (linked statically in the
    image), comes from a listed package, a package those depend on, or the base image."""
    swift_dir = swift_runtime_dir()
    listed = runtime_packages()
    provided = dependency_closure(listed) | BASE_IMAGE_PACKAGES
    missing = {}
    for soname, path in linked_libraries(name).items():
        if Path(path).resolve().is_relative_to(swift_dir.resolve()) or path.startswith(str(swift_dir)):
            continue
        package = package_of(path)
        if package not in provided:
            missing[soname] = package
    assert not missing, f"{name} links libraries whose packages deploy/runtime-packages.txt lacks: {missing}"


def declared_runtime_packages() -> dict:
    """Runtime packages of the C libraries Package.swift declares (system-library targets, by the
    Depends of their -dev package): listed now so the image is ready when the code links them."""
    package_swift = (ROOT / "Package.swift").read_text()
    declared = {}
    for dev in re.findall(r'\.apt\(\["([a-z0-9.+-]+-dev)"\]\)', package_swift):
        for dep in installed_depends(dev):
            if not dep.endswith("-dev") and dep.startswith("lib"):
                declared[dep] = dev
    return declared


def test_every_listed_package_is_needed():
    """Nothing extra: each listed package provides a library an executable links, is the runtime
    package of a C library Package.swift declares, or ships no shared library at all (data, e.g.
    CA certificates)."""
    linked_packages = {package_of(path) for name in EXECUTABLES for path in linked_libraries(name).values()
                       if not path.startswith(str(swift_runtime_dir()))}
    declared = declared_runtime_packages()
    unneeded, declared_only = [], []
    for package in runtime_packages():
        if package in linked_packages:
            continue
        if package in declared:
            declared_only.append(package)
            continue
        files = subprocess.run(["dpkg", "-L", package], capture_output=True, text=True)
        if files.returncode == 0 and not re.search(r"\.so(\.\d+)*$", files.stdout, re.M):
            continue
        if files.returncode != 0:
            pytest.fail(f"{package} is not installed here, so it cannot be checked")
        unneeded.append(package)
    if declared_only:
        print(f"listed for C libraries Package.swift declares but this build does not link yet: {declared_only}")
    assert not unneeded, f"listed but not needed by the executables: {unneeded}"


def test_swift_runtime_is_static_in_the_image():
    """The debug build links the Swift runtime dynamically from the toolchain; the image must not
    need it, hence --static-swift-stdlib on every release build in the Dockerfile."""
    swift_dir = str(swift_runtime_dir())
    uses_swift_runtime = any(path.startswith(swift_dir) for path in linked_libraries("BatchSync").values())
    assert uses_swift_runtime, "expected the debug build to load the toolchain's Swift runtime"
    builds = re.findall(r"swift build -c release[^\n\\]*", DOCKERFILE)
    assert builds and all("--static-swift-stdlib" in b for b in builds if "--show-bin-path" not in b)


PROBE = """
import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
let request = URLRequest(url: URL(string: "http://127.0.0.1:9/")!)
let data = try JSONSerialization.data(withJSONObject: ["at": Date().timeIntervalSince1970])
DispatchQueue.global().sync { print(request.url!.absoluteString, data.count) }
"""


def test_static_swift_stdlib_needs_only_the_listed_packages(tmp_path):
    """What `--static-swift-stdlib` leaves dynamic, measured: a probe using what the executables use
    from the Swift runtime (Foundation, FoundationNetworking, Dispatch) is linked statically like the
    Dockerfile's release build; it must load nothing from the toolchain and only libraries of listed
    (or base-image) packages. FoundationNetworking links -lcurl, whose link name comes from
    libcurl4-openssl-dev in the build image; here a private symlink stands in for it."""
    curl = next((p for p in ("/usr/lib/x86_64-linux-gnu/libcurl.so.4", "/usr/lib/aarch64-linux-gnu/libcurl.so.4")
                 if os.path.exists(p)), None)
    if curl is None:
        pytest.skip("libcurl4 is not installed on this machine, so FoundationNetworking cannot be linked here")
    (tmp_path / "lib").mkdir()
    os.symlink(curl, tmp_path / "lib" / "libcurl.so")
    (tmp_path / "main.swift").write_text(PROBE)
    result = subprocess.run(["swiftc", "-static-stdlib", "main.swift", "-o", "probe", "-L", "lib"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    run = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "127.0.0.1" in run.stdout, run.stderr
    ldd = subprocess.run(["ldd", str(tmp_path / "probe")], capture_output=True, text=True, check=True).stdout
    paths = re.findall(r"=> (\S+) \(", ldd)
    swift_dir = str(swift_runtime_dir())
    assert not [p for p in paths if p.startswith(swift_dir)], "Swift runtime loaded from the toolchain"
    provided = dependency_closure(runtime_packages()) | BASE_IMAGE_PACKAGES
    missing = {p: package_of(p) for p in paths if package_of(p) not in provided}
    assert not missing, f"a static-stdlib binary needs packages the list lacks: {missing}"
    direct = {package_of(p) for p in paths if re.search(r"/lib(curl|stdc\+\+)\.so", p)}
    assert direct == {"libcurl4", "libstdc++6"}, direct
