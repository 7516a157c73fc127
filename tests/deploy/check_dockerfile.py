#!/usr/bin/env python3
"""Offline checks of the Dockerfile against scripts/setup, scripts/requirements.txt and the
configuration (registered in ctest as deploy_check_dockerfile; argv[1] = the repository's root).
Needs no network and no container engine.

- Stages: cuda-toolkit (NVIDIA's CUDA devel image, a source of files), build, runtime-base,
  runtime-cpu, runtime-gpu and the final `FROM runtime-${VARIANT}` (ARG VARIANT=cpu).
- build is Debian bookworm and installs its packages by running scripts/setup (no apt list of its
  own, no pip install of its own: torch comes from scripts/requirements.txt's pin, through the
  virtual environment scripts/setup creates), after COPYing scripts/requirements.txt beside it and
  the CUDA toolkit that scripts/setup requires, whose major.minor is the image tag's and torch's
  CUDA. It configures with Ninja in Release, -DSTREAMDIT_PYTHON= that environment's python3 and
  -DSTREAMDIT_CUDA chosen by VARIANT, builds the streamdit target, and stages the wheel's
  libraries under /out with an ld.so.conf.d file naming their folders.
- No Debian libtorch (libtorch*, python3-torch), no Node.js (nodejs, npm, node) anywhere.
- runtime-base is Debian bookworm too and installs exactly the runtime libraries of scripts/setup's
  packages: RUNTIME_OF below maps every library package scripts/setup installs to the runtime
  packages the binary needs for it; a library package missing from the table, a runtime package no
  setup package accounts for, or one the image lacks, is an error. Where apt-cache knows the
  packages (offline: the local package lists), each pair is checked against Debian's own
  dependencies. It COPYs the build's /out and runs ldconfig; runtime-cpu runs the binary once
  (every library loads without a GPU driver), runtime-gpu sets the NVIDIA container toolkit's
  variables (compute) and checks with ldd that only the driver's libcuda.so.1 is left to mount.
- The final stage: a non-root USER, a HEALTHCHECK (`streamdit status --server 127.0.0.1:PORT`),
  ENTRYPOINT streamdit with `serve --config FILE`; FILE is COPYed from the repository, listens on
  all interfaces, and its ports are the EXPOSEd ones and config/default.yaml's convention
  (listen 50051; metrics_listen as in config/examples/); the sentencepiece shim is where
  STREAMDIT_SENTENCEPIECE_SHIM says.
- Self-test: deliberate breaks (a package dropped or added on either side, Debian's libtorch or npm
  back, pip in the Dockerfile, another CUDA, no ldconfig, USER root, no HEALTHCHECK, another port,
  an apt-get install in the builder, ...) must each be reported.
Exit status 0 when everything holds, 1 otherwise (every problem printed).
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))

# Every library package scripts/setup installs (names starting with lib or ending in -dev) -> the
# Debian bookworm runtime packages the image needs for it (readelf -d build/server/streamdit and
# build/lib/libstreamdit_sentencepiece_shim.so; apt brings their own dependencies). An empty list:
# header-only, or only for tests and benchmarks. libtorch is not here: it is the torch wheel's
# (scripts/requirements.txt), staged by the build stage, not a Debian package.
RUNTIME_OF = {
    "libgrpc++-dev": ["libgrpc++1.51"],  # libgrpc++.so, libgrpc++_reflection.so; brings libgrpc29
    "libprotobuf-dev": ["libprotobuf32"],
    "libabsl-dev": ["libabsl20220623"],
    "prometheus-cpp-dev": ["libprometheus-cpp-core1.0", "libprometheus-cpp-pull1.0"],
    "libyaml-cpp-dev": ["libyaml-cpp0.7"],
    "libspdlog-dev": ["libspdlog1.10"],  # brings libfmt9
    "libsentencepiece-dev": ["libsentencepiece0"],  # the shim's libsentencepiece{,_train}.so.0
    "libspng-dev": ["libspng0"],
    "libicu-dev": ["libicu72"],
    "libcpp-httplib-dev": [],  # header-only
    "libssl-dev": ["libssl3"],  # libcrypto.so.3: the API keys' SHA-256 and constant-time compare
    "libjpeg62-turbo-dev": ["libjpeg62-turbo"],  # JPEG replies of the HTTP API
    "libwebp-dev": ["libwebp7"],  # WebP replies of the HTTP API
    "zlib1g-dev": ["zlib1g"],
    "nlohmann-json3-dev": [],  # header-only
    "libcli11-dev": [],  # header-only
    "libgtest-dev": [],  # tests
    "libgmock-dev": [],  # tests
    "libbenchmark-dev": [],  # benchmarks
}
STAGES = ("build", "runtime-base", "runtime-cpu", "runtime-gpu")
DEBIAN = r"debian:bookworm(-slim)?(@sha256:[0-9a-f]+)?"
# Debian's CPU-only libtorch 1.13 and Node.js are gone from the project: neither may come back here.
FORBIDDEN_PACKAGE = re.compile(r"^(libtorch.*|python3-torch.*|nodejs|npm)$")
FORBIDDEN_COMMAND = re.compile(r"(^|[\s;&|(])(npm|npx|node|nodejs)(\s|$)")


# ---------------------------------------------------------------------------------------------
# Parsing.

def parse_dockerfile(text):
    """[(INSTRUCTION, arguments, line)] with continuation lines joined and comments dropped."""
    out = []
    current, start = None, 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if stripped.startswith("#") or (not stripped and current is None):
            continue  # comments (also inside a continued instruction) and blank lines
        if current is None:
            current, start = "", number
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, arguments = current.strip().partition(" ")
        out.append((keyword.upper(), arguments.strip(), start))
        current = None
    return out


def substitute(text, variables):
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def stages_of(instructions):
    """(global ARG defaults, [{'name', 'base', 'instructions'}])."""
    global_args, stages = {}, []
    for keyword, arguments, line in instructions:
        if keyword == "FROM":
            words = [w for w in arguments.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append({"name": name, "base": substitute(words[0], global_args), "raw_base": words[0],
                           "instructions": [], "line": line})
        elif not stages and keyword == "ARG":
            name, _, default = arguments.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        elif stages:
            stages[-1]["instructions"].append((keyword, arguments, line))
    return global_args, stages


def apt_installed(stage):
    """Packages named on `apt-get install` command lines of the stage's RUN instructions."""
    packages = []
    for keyword, arguments, _ in stage["instructions"]:
        if keyword != "RUN":
            continue
        for segment in re.split(r"&&|\|\||;|\|", arguments):
            words = segment.split()
            for i, word in enumerate(words):
                if word in ("apt-get", "apt") and i + 1 < len(words) and words[i + 1] == "install":
                    for token in words[i + 2:]:
                        if token.startswith("-") or any(c in token for c in "$()=/\"'`"):
                            continue
                        packages.append(token)
    return packages


def setup_packages(text):
    """The names scripts/setup adds to PACKAGES: the PACKAGES=( ... ) block and PACKAGES+=( ... ).
    Comments are dropped first, so that a ")" in one does not end the block early."""
    names = []
    inside = False
    for line in text.splitlines():
        code = line.split("#", 1)[0]
        if not inside:
            start = re.match(r"^\s*PACKAGES\+?=\((.*)$", code)
            if not start:
                continue
            inside, code = True, start.group(1)
        if ")" in code:
            code, inside = code.split(")", 1)[0], False
        names += code.split()
    return names


def json_or_words(arguments):
    arguments = arguments.strip()
    if arguments.startswith("["):
        try:
            return [str(w) for w in yaml.safe_load(arguments)]
        except yaml.YAMLError:
            pass
    return arguments.split()


def port_of(address):
    m = re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]*):(\d+)", str(address or "").strip())
    return (m.group(1), int(m.group(2))) if m else None


# ---------------------------------------------------------------------------------------------
# Debian's package dependencies.

_APT_DEPENDS = {}


def apt_depends(package):
    """Direct Depends of `package` from the local apt lists (no network); None if unknown. One
    apt-cache call answers for every package of RUNTIME_OF."""
    if not _APT_DEPENDS and shutil.which("apt-cache"):
        _APT_DEPENDS[None] = None
        result = subprocess.run(["apt-cache", "depends"] + sorted(RUNTIME_OF), capture_output=True,
                                text=True, env=dict(os.environ, LC_ALL="C"))
        current = None
        for line in result.stdout.splitlines():
            if line and not line[0].isspace():
                current = line.strip()
                _APT_DEPENDS[current] = set()
            elif current:
                m = re.match(r"^\s*\|?Depends:\s*<?([^\s>]+)>?", line)
                if m:
                    _APT_DEPENDS[current].add(m.group(1))
    return _APT_DEPENDS.get(package) or None


# ---------------------------------------------------------------------------------------------
# scripts/setup and scripts/requirements.txt: where the virtual environment is, what torch is.

def setup_venv_python(setup, script, workdir):
    """The python3 of the virtual environment scripts/setup creates when run as `script` (the path
    on the RUN line) in `workdir`: <its root>/<VENV>/bin/python3, its root being the folder above
    scripts/ when setup cd's there (cd "$(dirname "$0")/..") and the working folder otherwise."""
    venv = re.search(r"^\s*VENV=['\"]?([^'\"\s]+)", setup, re.M)
    venv = venv.group(1) if venv else ".venv"
    root = workdir
    if re.search(r'cd\s+"\$\(dirname\s+"\$0"\)/\.\."', setup):
        root = os.path.normpath(os.path.join(workdir, os.path.dirname(os.path.dirname(script))
                                             or "."))
    return os.path.normpath(os.path.join(root, venv, "bin", "python3"))


def torch_pin(requirements):
    m = re.search(r"^\s*torch==([\w.+!-]+)\s*(#.*)?$", requirements, re.M)
    return m.group(1) if m else None


def installed_torch_cuda(pin):
    """torch.version.cuda of the torch installed for this interpreter (the venv's, read from
    torch/version.py without importing torch), if it is the pinned version; else None."""
    try:
        import importlib.util
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if not spec or not spec.submodule_search_locations:
        return None
    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    version = re.search(r"^__version__\s*=\s*'([^']+)'", text, re.M)
    cuda = re.search(r"^cuda\s*(?::[^=]*)?=\s*'([^']+)'", text, re.M)
    if not version or not cuda or version.group(1).split("+")[0] != pin.split("+")[0]:
        return None
    return cuda.group(1)


# ---------------------------------------------------------------------------------------------
# The checks.

def check(dockerfile, setup, read_file, use_apt=True, notes=None, requirements=None,
          torch_cuda=None):
    errors = []
    notes = notes if notes is not None else []
    if requirements is None:
        requirements = read_file("scripts/requirements.txt")
    global_args, stages = stages_of(parse_dockerfile(dockerfile))
    named = {s["name"]: s for s in stages if s["name"]}

    if global_args.get("VARIANT") != "cpu":
        errors.append("ARG VARIANT=cpu (before the first FROM) selects the variant; not found")
    for name in STAGES:
        if name not in named:
            errors.append(f"no stage named {name}")
    if not stages or stages[-1]["raw_base"] not in ("runtime-${VARIANT}", "runtime-$VARIANT"):
        errors.append("the last stage must be FROM runtime-${VARIANT} (the common runtime part)")
    if any(name not in named for name in STAGES) or not stages:
        return errors
    final = stages[-1]

    def runs(stage):
        return [a for k, a, _ in stage["instructions"] if k == "RUN"]

    def index_of(stage, keyword, pattern):
        """Position of the stage's first `keyword` instruction matching `pattern`; None if none."""
        return next((i for i, (k, a, _) in enumerate(stage["instructions"])
                     if k == keyword and re.search(pattern, a)), None)

    # Nothing of Debian's libtorch or of Node.js; no download or pip install of the image's own.
    for stage in stages:
        label = stage["name"] or "the final stage"
        for package in apt_installed(stage):
            if FORBIDDEN_PACKAGE.match(package):
                errors.append(f"{label} installs {package}: " + (
                    "Node.js is no longer used" if package in ("nodejs", "npm") else
                    "libtorch is the pinned torch wheel's (scripts/requirements.txt)"))
        for run in runs(stage):
            if FORBIDDEN_COMMAND.search(run):
                errors.append(f"{label} runs Node.js or npm: {run[:80]}")
            if re.search(r"\bpip3?\s+install\b|-m\s+pip\s+install\b", run):
                errors.append(f"{label} runs pip install of its own: Python packages (torch "
                              "included) come from scripts/requirements.txt through scripts/setup")
            if re.search(r"\b(curl|wget)\b", run):
                errors.append(f"{label} downloads with curl/wget: the image takes Debian's "
                              "packages (scripts/setup) and the pinned PyPI packages, nothing else")

    # The builder: Debian bookworm, the CUDA toolkit scripts/setup needs, scripts/setup with
    # scripts/requirements.txt, the streamdit target for VARIANT against the venv's torch.
    build = named["build"]
    if not re.fullmatch(DEBIAN, build["base"]):
        errors.append(f"build is FROM {build['base']}, not debian:bookworm "
                      "(scripts/setup targets bookworm)")
    setup_run = index_of(build, "RUN", r"(^|[\s;&(])(\S*/)?scripts/setup(\s|$|;|&)")
    if setup_run is None:
        errors.append("build does not RUN scripts/setup (the one list of build dependencies)")
    if apt_installed(build):
        errors.append(f"build installs packages of its own ({' '.join(apt_installed(build))}): "
                      "add them to scripts/setup instead")
    pin = torch_pin(requirements)
    if not pin:
        errors.append("scripts/requirements.txt pins no torch==VERSION (the wheel libtorch "
                      "comes from)")

    def copied_before_setup(path):
        """Whether a COPY before scripts/setup's RUN brings the repository's `path` (the file
        itself, its folder, or the whole context)."""
        for i, (keyword, arguments, _) in enumerate(build["instructions"]):
            if keyword != "COPY" or (setup_run is not None and i > setup_run):
                continue
            words = [w for w in arguments.split() if not w.startswith("--")]
            if "--from=" in arguments:
                continue
            for source in words[:-1]:
                source = source.rstrip("/")
                if source in (".", path) or path.startswith(source + "/"):
                    return True
        return False

    if setup_run is not None:
        for path in ("scripts/setup", "scripts/requirements.txt"):
            if not copied_before_setup(path):
                errors.append(f"build does not COPY {path} before running scripts/setup "
                              "(scripts/setup installs scripts/requirements.txt's pins)")

    # The CUDA toolkit (scripts/setup refuses to run without nvcc in /usr/local/cuda): COPYed
    # from a stage FROM NVIDIA's devel image, of torch's CUDA major.minor.
    if "/usr/local/cuda" in setup:
        toolkit = None
        for i, (keyword, arguments, _) in enumerate(build["instructions"]):
            m = re.fullmatch(r"--from=(\S+)\s+/usr/local/cuda-(\d+\.\d+)/?\s+/usr/local/cuda-\2/?",
                             arguments.strip()) if keyword == "COPY" else None
            if m and (setup_run is None or i < setup_run):
                toolkit = (m.group(1), m.group(2), i)
        if not toolkit:
            errors.append("build does not COPY --from=<NVIDIA's CUDA devel image stage> "
                          "/usr/local/cuda-X.Y before scripts/setup, which needs nvcc there")
        else:
            source, version, at = toolkit
            image = named.get(source, {}).get("base", source)
            m = re.match(r"nvidia/cuda:(\d+\.\d+)(\.\d+)?-(cudnn\d*-)?devel-", image)
            if not m:
                errors.append(f"the CUDA toolkit comes from {image}, not an "
                              "nvidia/cuda:X.Y.Z-devel image (nvcc and the headers)")
            elif m.group(1) != version:
                errors.append(f"the toolkit image {image} is CUDA {m.group(1)}, the build COPYs "
                              f"/usr/local/cuda-{version}")
            if torch_cuda and torch_cuda != version:
                errors.append(f"the build's CUDA toolkit is {version}, torch {pin}'s CUDA is "
                              f"{torch_cuda}: libtorch's CMake config needs the same major.minor")
            elif not torch_cuda:
                notes.append(f"torch {pin} is not installed for this python: its CUDA version was "
                             f"not compared with the toolkit's {version}")
            link = index_of(build, "RUN", rf"ln\s+-s\S*\s+(/usr/local/)?cuda-{re.escape(version)}"
                                          r"\s+/usr/local/cuda(\s|$|;|&)")
            if link is None or link < at or (setup_run is not None and link > setup_run):
                errors.append(f"build does not link /usr/local/cuda to cuda-{version} before "
                              "scripts/setup")

    # The venv scripts/setup creates is the python CMake asks for torch.
    configure = [r for r in runs(build) if "cmake -S . -B build" in r]
    workdir = "/"
    venv_python = None
    for i, (keyword, arguments, _) in enumerate(build["instructions"]):
        if keyword == "WORKDIR":
            workdir = os.path.normpath(os.path.join(workdir, arguments.strip()))
        if i == setup_run:
            script = re.search(r"(^|[\s;&(])((\S*/)?scripts/setup)(\s|$|;|&)", arguments).group(2)
            venv_python = setup_venv_python(setup, script, workdir)
    if not configure or "-G Ninja" not in configure[0] \
            or "-DCMAKE_BUILD_TYPE=Release" not in configure[0]:
        errors.append("build does not configure with "
                      "`cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release`")
    else:
        python = re.search(r"-DSTREAMDIT_PYTHON=(\S+)", configure[0])
        if venv_python and (not python or python.group(1) != venv_python):
            errors.append(f"build configures with -DSTREAMDIT_PYTHON="
                          f"{python.group(1) if python else ''}, not {venv_python} (the venv "
                          "scripts/setup creates, with the torch wheel)")
        if not re.search(r"-DSTREAMDIT_CUDA=", configure[0]) or "VARIANT" not in configure[0]:
            errors.append("build does not set -DSTREAMDIT_CUDA from VARIANT (cpu OFF, gpu ON)")
        arg = index_of(build, "ARG", r"^VARIANT(=|$)")
        if arg is None or arg > index_of(build, "RUN", re.escape("cmake -S . -B build")):
            errors.append("build does not declare ARG VARIANT before configuring (a global ARG "
                          "is not visible inside a stage)")
    if not any(re.search(r"cmake --build build\b.*--target streamdit\b", r) for r in runs(build)):
        errors.append("build does not build `cmake --build build ... --target streamdit`")

    # The binary, the shim and the wheel's libraries, staged under /out.
    shim_env = None
    for keyword, arguments, _ in final["instructions"]:
        if keyword == "ENV":
            m = re.search(r"STREAMDIT_SENTENCEPIECE_SHIM[= ](\S+)", arguments)
            shim_env = m.group(1) if m else shim_env
    text = " ".join(runs(build))
    if not re.search(r"build/server/streamdit\s+/out/usr/local/bin/streamdit\b", text):
        errors.append("build does not install the binary as /out/usr/local/bin/streamdit")
    if not shim_env or not re.search(r"build/lib/libstreamdit_sentencepiece_shim\.so\s+/out"
                                     + re.escape(shim_env) + r"(\s|$)", text):
        errors.append(f"build does not install the sentencepiece shim at /out{shim_env} "
                      "(ENV STREAMDIT_SENTENCEPIECE_SHIM of the final stage)")
    staging = [r for r in runs(build)
               if re.search(r">\s*/out/etc/ld\.so\.conf\.d/[\w.-]+\.conf", r)]
    if not staging or "ldd" not in staging[0] or not re.search(r"/out/opt/\w", staging[0]):
        errors.append("build does not stage the torch wheel's libraries (found with ldd) under "
                      "/out/opt/ with an /out/etc/ld.so.conf.d/ file naming their folders")

    # The runtime: Debian bookworm, the runtime libraries of scripts/setup's packages, no more,
    # no fewer; the build's /out and the loader's cache.
    runtime = named["runtime-base"]
    if not re.fullmatch(DEBIAN, runtime["base"]):
        errors.append(f"runtime-base is FROM {runtime['base']}, not Debian bookworm like the "
                      "builder")
    installed = apt_installed(runtime)
    setup_names = setup_packages(setup)
    expected = {}
    for package in setup_names:
        is_library = package.startswith("lib") or package.endswith("-dev")
        if package in RUNTIME_OF:
            for runtime_package in RUNTIME_OF[package]:
                expected.setdefault(runtime_package, package)
        elif is_library:
            errors.append(f"scripts/setup installs {package}: add it to RUNTIME_OF in "
                          "tests/deploy/check_dockerfile.py with its runtime package(s) (and to "
                          "the Dockerfile's runtime-base stage), or [] if nothing is needed at "
                          "run time")
    for package in sorted(set(installed) - set(expected)):
        errors.append(f"runtime-base installs {package}, which is the runtime library of no "
                      "package in scripts/setup")
    for package in sorted(set(expected) - set(installed)):
        errors.append(f"scripts/setup installs {expected[package]}, whose runtime library "
                      f"{package} runtime-base lacks")
    for package in sorted(set(RUNTIME_OF) - set(setup_names)):
        notes.append(f"RUNTIME_OF lists {package}, which scripts/setup no longer installs")
    if use_apt:
        for dev, runtime_packages in sorted(RUNTIME_OF.items()):
            for runtime_package in runtime_packages:
                if runtime_package == dev:
                    continue
                depends = apt_depends(dev)
                if depends is None:
                    notes.append(f"apt-cache does not know {dev}: {dev} -> {runtime_package} "
                                 "not checked")
                elif runtime_package not in depends:
                    libraries = ", ".join(sorted(d for d in depends if d.startswith("lib")))
                    errors.append(f"Debian's {dev} depends on {libraries}, not "
                                  f"{runtime_package}: update RUNTIME_OF and the Dockerfile")
    copied = index_of(runtime, "COPY", r"^--from=build\s+/out/?\s+/$")
    if copied is None:
        errors.append("runtime-base does not COPY --from=build /out/ /")
    ldconfig = index_of(runtime, "RUN", r"(^|[\s;&])ldconfig(\s|$|;|&)")
    if ldconfig is None or (copied is not None and ldconfig < copied):
        errors.append("runtime-base does not run ldconfig after COPYing /out (the loader would not "
                      "find the wheel's libraries)")

    # The variants: both on runtime-base; cpu runs the binary, gpu is set up for the driver.
    for name in ("runtime-cpu", "runtime-gpu"):
        if named[name]["raw_base"] != "runtime-base":
            errors.append(f"{name} is FROM {named[name]['raw_base']}, not runtime-base")
    if not any(re.search(r"(^|[\s;&/])streamdit\s+--help\b", r)
               for r in runs(named["runtime-cpu"])):
        errors.append("runtime-cpu does not run `streamdit --help` (proof that every library loads "
                      "without a GPU driver)")
    gpu_env = " ".join(a for k, a, _ in named["runtime-gpu"]["instructions"] if k == "ENV")
    capabilities = re.search(r"NVIDIA_DRIVER_CAPABILITIES[= ]\"?([\w,]+)", gpu_env)
    if "NVIDIA_VISIBLE_DEVICES" not in gpu_env or not capabilities \
            or not {"compute", "all"} & set(capabilities.group(1).split(",")):
        errors.append("runtime-gpu does not set NVIDIA_VISIBLE_DEVICES and "
                      "NVIDIA_DRIVER_CAPABILITIES with compute (the container toolkit would mount "
                      "no libcuda.so.1)")
    if not any(re.search(r"\bldd\b.*/usr/local/bin/streamdit", r)
               for r in runs(named["runtime-gpu"])):
        errors.append("runtime-gpu does not check with ldd that the binary's libraries resolve")

    # The final stage: user, health check, command, configuration, ports.
    users = [a for k, a, _ in final["instructions"] if k == "USER"]
    if not users:
        errors.append("the final stage has no USER (it would run as root)")
    else:
        user = users[-1].split(":")[0]
        if user in ("root", "0"):
            errors.append(f"the final stage runs as USER {users[-1]} (root)")
        elif user.isdigit() and not any(re.search(rf"useradd\b.*(--uid|-u)\s+{user}\b", r) for r in runs(final)):
            errors.append(f"USER {user}: no useradd --uid {user} in the final stage")
    healthchecks = [a for k, a, _ in final["instructions"] if k == "HEALTHCHECK"]
    entrypoint = [json_or_words(a) for k, a, _ in final["instructions"] if k == "ENTRYPOINT"]
    command = [json_or_words(a) for k, a, _ in final["instructions"] if k == "CMD"]
    if entrypoint[-1:] != [["streamdit"]]:
        errors.append("ENTRYPOINT should be [\"streamdit\"] (Kubernetes passes `serve --config ...` as args)")
    command = command[-1] if command else []
    config_path = command[command.index("--config") + 1] if "--config" in command[:-1] else None
    if not command or command[0] != "serve" or not config_path:
        errors.append(f"CMD should be [\"serve\", \"--config\", FILE], is {command}")
        return errors
    source = None
    for keyword, arguments, _ in final["instructions"]:
        words = [w for w in arguments.split() if not w.startswith("--")]
        if keyword == "COPY" and len(words) == 2 and words[1] == config_path:
            source = words[0]
    if not source:
        errors.append(f"the final stage COPYs no repository file to {config_path} (CMD's --config)")
        return errors
    try:
        config = yaml.safe_load(read_file(source)) or {}
    except (OSError, yaml.YAMLError) as e:
        errors.append(f"{source} (the image's {config_path}) cannot be read: {e}")
        return errors
    listen, metrics = port_of(config.get("listen", "0.0.0.0:50051")), port_of(config.get("metrics_listen"))
    if not listen or listen[0] not in ("0.0.0.0", "[::]"):
        errors.append(f"{source}: listen {config.get('listen')} is not all interfaces: unreachable from outside the container")
    if not metrics or metrics[0] not in ("0.0.0.0", "[::]"):
        errors.append(f"{source}: metrics_listen {config.get('metrics_listen')} is not on all interfaces")
    if not listen or not metrics:
        return errors
    exposed = set()
    for keyword, arguments, _ in final["instructions"]:
        if keyword == "EXPOSE":
            exposed |= {int(p.split("/")[0]) for p in arguments.split()}
    if exposed != {listen[1], metrics[1]}:
        errors.append(f"EXPOSE {sorted(exposed)} is not {source}'s listen and metrics_listen ports "
                      f"({listen[1]}, {metrics[1]})")
    default = yaml.safe_load(read_file("config/default.yaml")) or {}
    default_listen = port_of(default.get("listen", "0.0.0.0:50051"))
    if default_listen and default_listen[1] != listen[1]:
        errors.append(f"the image listens on {listen[1]}, config/default.yaml on {default_listen[1]}")
    metrics_convention = set()
    for name in ["config/default.yaml"] + sorted("config/examples/" + f for f in os.listdir(os.path.join(ROOT, "config", "examples"))
                                                 if f.endswith(".yaml")):
        port = port_of((yaml.safe_load(read_file(name)) or {}).get("metrics_listen"))
        if port:
            metrics_convention.add(port[1])
    if metrics_convention and metrics[1] not in metrics_convention:
        errors.append(f"the image's metrics port {metrics[1]} is none of config/'s ({sorted(metrics_convention)})")
    if not healthchecks or healthchecks[-1].strip().upper() == "NONE":
        errors.append("the final stage has no HEALTHCHECK")
    else:
        probe = healthchecks[-1]
        if not re.search(rf"streamdit\W+status\b.*--server\W+127\.0\.0\.1:{listen[1]}\b", probe):
            errors.append(f"HEALTHCHECK should run `streamdit status --server 127.0.0.1:{listen[1]}`: {probe}")
    return errors


# ---------------------------------------------------------------------------------------------

def read_repo_file(relative):
    with open(os.path.join(ROOT, relative), encoding="utf-8") as f:
        return f.read()


SETUP_RUN = "    scripts/setup && rm -rf /var/lib/apt/lists/*"
TOOLKIT_LINK = "RUN ln -s cuda-13.0 /usr/local/cuda"

# (what, file, old text, new text): each must make check() report an error.
BREAKS = [
    ("a runtime package dropped from the image", "Dockerfile", " libspng0 ", " "),
    ("an unrelated package added to the image", "Dockerfile", " libicu72 zlib1g",
     " libicu72 zlib1g libpng16-16"),
    ("Debian's libtorch back in the image", "Dockerfile", " libicu72 zlib1g",
     " libicu72 zlib1g libtorch1.13"),
    ("a -dev package dropped from scripts/setup", "scripts/setup", " libspng-dev", ""),
    ("an unclassified library added to scripts/setup", "scripts/setup", " libspng-dev",
     " libspng-dev libpng-dev"),
    ("a library after a comment with a parenthesis", "scripts/setup", "  python3 python3-venv",
     "  # (a note)\n  libpng-dev python3 python3-venv"),
    ("apt-get install in the builder", "Dockerfile", SETUP_RUN,
     "    apt-get update && apt-get install -y libfoo-dev && " + SETUP_RUN.strip()),
    ("the builder not running scripts/setup", "Dockerfile", SETUP_RUN,
     "    true && rm -rf /var/lib/apt/lists/*"),
    ("scripts/requirements.txt not copied for scripts/setup", "Dockerfile",
     "COPY scripts/setup scripts/requirements.txt scripts/", "COPY scripts/setup scripts/"),
    ("no torch pin in scripts/requirements.txt", "scripts/requirements.txt", "torch==", "torch>="),
    ("torch installed with pip in the Dockerfile", "Dockerfile", TOOLKIT_LINK,
     TOOLKIT_LINK + " && pip install torch"),
    ("npm in the Dockerfile", "Dockerfile", TOOLKIT_LINK, TOOLKIT_LINK + " && npm ci"),
    ("a download of the image's own", "Dockerfile", TOOLKIT_LINK,
     TOOLKIT_LINK + " && curl -fsSLO https://example.com/libtorch.zip"),
    ("no CUDA toolkit for scripts/setup", "Dockerfile",
     "COPY --from=cuda-toolkit /usr/local/cuda-13.0 /usr/local/cuda-13.0\n", ""),
    ("a toolkit image of another CUDA", "Dockerfile", "nvidia/cuda:13.0.", "nvidia/cuda:12.8."),
    ("/usr/local/cuda not linked", "Dockerfile", TOOLKIT_LINK, "RUN true"),
    ("STREAMDIT_PYTHON not the venv's", "Dockerfile",
     "-DSTREAMDIT_PYTHON=/opt/streamdit/.venv/bin/python3", "-DSTREAMDIT_PYTHON=/usr/bin/python3"),
    ("the venv elsewhere than the build says", "Dockerfile", "WORKDIR /opt/streamdit\n",
     "WORKDIR /opt/setup\n"),
    ("STREAMDIT_CUDA not set by VARIANT", "Dockerfile", ' -DSTREAMDIT_CUDA="$cuda"', ""),
    ("the wheel's libraries not staged", "Dockerfile",
     "/out/etc/ld.so.conf.d/streamdit-pytorch.conf", "/tmp/streamdit-pytorch.conf"),
    ("the runtime without the build's /out", "Dockerfile", "COPY --from=build /out/ /",
     "COPY --from=build /out/usr/ /usr/"),
    ("no ldconfig", "Dockerfile", "RUN ldconfig\n", ""),
    ("the cpu image not running the binary", "Dockerfile", "RUN streamdit --help > /dev/null",
     "RUN true"),
    ("gpu without the compute capability", "Dockerfile",
     "NVIDIA_DRIVER_CAPABILITIES=compute,utility", "NVIDIA_DRIVER_CAPABILITIES=utility"),
    ("USER root", "Dockerfile", "USER 10001:10001", "USER root"),
    ("no HEALTHCHECK", "Dockerfile", "HEALTHCHECK ", "# HEALTHCHECK "),
    ("another exposed port", "Dockerfile", "EXPOSE 50051 9090", "EXPOSE 50051 9091"),
    ("the shim elsewhere", "Dockerfile", "ENV STREAMDIT_SENTENCEPIECE_SHIM=/usr/local/lib/",
     "ENV STREAMDIT_SENTENCEPIECE_SHIM=/opt/lib/"),
]


def self_test(dockerfile, setup, requirements, torch_cuda):
    failures = []
    for label, target, old, new in BREAKS:
        texts = {"Dockerfile": dockerfile, "scripts/setup": setup,
                 "scripts/requirements.txt": requirements}
        if old not in texts[target]:
            failures.append(f"self-test: '{label}' no longer applies ({old.strip()!r} not in "
                            f"{target}); update BREAKS")
            continue
        texts[target] = texts[target].replace(old, new, 1)
        if not check(texts["Dockerfile"], texts["scripts/setup"], read_repo_file, use_apt=False,
                     requirements=texts["scripts/requirements.txt"], torch_cuda=torch_cuda):
            failures.append(f"self-test: {label} was not reported")
    return failures


def main():
    dockerfile = read_repo_file("Dockerfile")
    setup = read_repo_file("scripts/setup")
    requirements = read_repo_file("scripts/requirements.txt")
    pin = torch_pin(requirements)
    torch_cuda = installed_torch_cuda(pin) if pin else None
    notes = []
    errors = check(dockerfile, setup, read_repo_file, notes=notes, requirements=requirements,
                   torch_cuda=torch_cuda)
    # The build context: a developer's .venv (torch and its CUDA libraries, ~5 GB) is unused by
    # the image (its venv is /opt/streamdit/.venv) but would be sent to the builder.
    try:
        ignored = [line.strip().strip("/") for line in read_repo_file(".dockerignore").splitlines()]
    except OSError:
        ignored = []
    if not {".venv", "**/.venv"} & set(ignored):
        notes.append(".dockerignore does not exclude .venv: `docker build .` sends it to the "
                     "builder")
    for note in notes:
        print(f"note: {note}")
    if not errors:
        _, stages = stages_of(parse_dockerfile(dockerfile))
        runtime = next(s for s in stages if s["name"] == "runtime-base")
        print(f"runtime-base installs {len(apt_installed(runtime))} packages, the runtime "
              f"libraries of scripts/setup's: {' '.join(apt_installed(runtime))}")
        print(f"libtorch: torch=={pin} from scripts/requirements.txt"
              + (f" (CUDA {torch_cuda}, the toolkit's)" if torch_cuda else ""))
    failures = self_test(dockerfile, setup, requirements, torch_cuda)
    if not failures:
        print(f"self-test: {len(BREAKS)} deliberate breaks were each reported")
    errors += failures
    if errors:
        print("\nFAIL:")
        for e in errors:
            print(f"  {e}")
        return 1
    print("check_dockerfile: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
