#!/usr/bin/python3
"""Offline checks of the Dockerfile against scripts/setup and the configuration (registered in
ctest as deploy_check_dockerfile; argv[1] = the repository's root). Needs no network and no
container engine.

- Stages: build-cpu, runtime-cpu, build-gpu, runtime-gpu and the final `FROM runtime-${VARIANT}`
  (ARG VARIANT=cpu).
- build-cpu is Debian bookworm, installs its packages by running scripts/setup (no apt list of its
  own) and builds the streamdit target with Ninja in Release.
- runtime-cpu installs exactly the runtime libraries of scripts/setup's packages: RUNTIME_OF below
  maps every library package scripts/setup installs to the runtime packages the binary needs for
  it; a library package missing from the table, a runtime package no setup package accounts for,
  or one the image lacks, is an error. Where apt-cache knows the packages (offline: the local
  package lists), each pair is checked against Debian's own dependencies.
- The final stage: a non-root USER, a HEALTHCHECK (`streamdit status --server 127.0.0.1:PORT`),
  ENTRYPOINT streamdit with `serve --config FILE`; FILE is COPYed from the repository, listens on
  all interfaces, and its ports are the EXPOSEd ones and config/default.yaml's convention
  (listen 50051; metrics_listen as in config/examples/); the sentencepiece shim is where
  STREAMDIT_SENTENCEPIECE_SHIM says.
- Self-test: deliberate breaks (a package dropped or added on either side, USER root, no
  HEALTHCHECK, another port, an apt-get install in the builder) must each be reported.
Exit status 0 when everything holds, 1 otherwise (every problem printed).
"""
import os
import re
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))

# Every library package scripts/setup installs (names starting with lib or ending in -dev) -> the
# Debian bookworm runtime packages the image needs for it (readelf -d build/server/streamdit and
# build/lib/libstreamdit_sentencepiece_shim.so; apt brings their own dependencies). An empty list:
# header-only, or only for tests and benchmarks.
RUNTIME_OF = {
    "libtorch-dev": ["libtorch1.13"],
    "libopenblas0-pthread": ["libopenblas0-pthread"],  # a runtime library itself: libtorch's BLAS
    "libgrpc++-dev": ["libgrpc++1.51"],  # libgrpc++.so, libgrpc++_reflection.so; brings libgrpc29
    "libprotobuf-dev": ["libprotobuf32"],
    "libabsl-dev": ["libabsl20220623"],
    "prometheus-cpp-dev": ["libprometheus-cpp-core1.0", "libprometheus-cpp-pull1.0"],
    "libyaml-cpp-dev": ["libyaml-cpp0.7"],
    "libspdlog-dev": ["libspdlog1.10"],  # brings libfmt9
    "libsentencepiece-dev": ["libsentencepiece0"],  # the shim's libsentencepiece{,_train}.so.0
    "libspng-dev": ["libspng0"],
    "libicu-dev": ["libicu72"],
    "zlib1g-dev": ["zlib1g"],
    "nlohmann-json3-dev": [],  # header-only
    "libcli11-dev": [],  # header-only
    "libgtest-dev": [],  # tests
    "libgmock-dev": [],  # tests
    "libbenchmark-dev": [],  # benchmarks
}
STAGES = ("build-cpu", "runtime-cpu", "build-gpu", "runtime-gpu")


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
    """The names scripts/setup adds to PACKAGES: the PACKAGES=( ... ) block and PACKAGES+=( ... )."""
    names = []
    for block in re.findall(r"^\s*PACKAGES\+?=\(([^)]*)\)", text, re.M):
        for line in block.splitlines():
            names += line.split("#", 1)[0].split()
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
# The checks.

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


def check(dockerfile, setup, read_file, use_apt=True, notes=None):
    errors = []
    notes = notes if notes is not None else []
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

    # The cpu builder: Debian bookworm, scripts/setup, the streamdit target.
    build = named["build-cpu"]
    if not re.fullmatch(r"debian:bookworm(-slim)?(@sha256:[0-9a-f]+)?", build["base"]):
        errors.append(f"build-cpu is FROM {build['base']}, not debian:bookworm (scripts/setup targets bookworm)")
    if not any(re.search(r"(^|[\s;&(])(\./)?scripts/setup(\s|$|;|&)", r) for r in runs(build)):
        errors.append("build-cpu does not RUN scripts/setup (the one list of build dependencies)")
    if apt_installed(build):
        errors.append(f"build-cpu installs packages of its own ({' '.join(apt_installed(build))}): "
                      "add them to scripts/setup instead")
    configure = [r for r in runs(build) if "cmake -S . -B build" in r]
    if not configure or "-G Ninja" not in configure[0] or "-DCMAKE_BUILD_TYPE=Release" not in configure[0]:
        errors.append("build-cpu does not configure with `cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release`")
    if not any(re.search(r"cmake --build build\b.*--target streamdit\b", r) for r in runs(build)):
        errors.append("build-cpu does not build `cmake --build build ... --target streamdit`")

    # The cpu runtime: the runtime libraries of scripts/setup's packages, no more, no fewer.
    runtime = named["runtime-cpu"]
    if not re.fullmatch(r"debian:bookworm(-slim)?(@sha256:[0-9a-f]+)?", runtime["base"]):
        errors.append(f"runtime-cpu is FROM {runtime['base']}, not Debian bookworm like the builder")
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
                          "tests/deploy/check_dockerfile.py with its runtime package(s) (and to the "
                          "Dockerfile's runtime-cpu stage), or [] if nothing is needed at run time")
    for package in sorted(set(installed) - set(expected)):
        errors.append(f"runtime-cpu installs {package}, which is the runtime library of no package in scripts/setup")
    for package in sorted(set(expected) - set(installed)):
        errors.append(f"scripts/setup installs {expected[package]}, whose runtime library {package} runtime-cpu lacks")
    for package in sorted(set(RUNTIME_OF) - set(setup_names)):
        notes.append(f"RUNTIME_OF lists {package}, which scripts/setup no longer installs")
    if use_apt:
        for dev, runtime_packages in sorted(RUNTIME_OF.items()):
            for runtime_package in runtime_packages:
                if runtime_package == dev:
                    continue
                depends = apt_depends(dev)
                if depends is None:
                    notes.append(f"apt-cache does not know {dev}: {dev} -> {runtime_package} not checked")
                elif runtime_package not in depends:
                    errors.append(f"Debian's {dev} depends on {', '.join(sorted(d for d in depends if d.startswith('lib')))}, "
                                  f"not {runtime_package}: update RUNTIME_OF and the Dockerfile")

    # The copied binary and shim.
    copies = [a for k, a, _ in runtime["instructions"] if k == "COPY"]
    if not any(re.fullmatch(r"--from=build-cpu\s+/out/?\s+/", c) for c in copies):
        errors.append("runtime-cpu does not COPY --from=build-cpu /out/ /")
    shim_env = None
    for keyword, arguments, _ in final["instructions"]:
        if keyword == "ENV":
            m = re.search(r"STREAMDIT_SENTENCEPIECE_SHIM[= ](\S+)", arguments)
            shim_env = m.group(1) if m else shim_env
    for stage in ("build-cpu", "build-gpu"):
        text = " ".join(runs(named[stage]))
        if not re.search(r"build/server/streamdit\s+/out/usr/local/bin/streamdit\b", text):
            errors.append(f"{stage} does not install the binary as /out/usr/local/bin/streamdit")
        if not shim_env or not re.search(r"build/lib/libstreamdit_sentencepiece_shim\.so\s+/out" + re.escape(shim_env) + r"(\s|$)", text):
            errors.append(f"{stage} does not install the sentencepiece shim at /out{shim_env} "
                          "(ENV STREAMDIT_SENTENCEPIECE_SHIM of the final stage)")

    # The gpu builder reads scripts/setup's list rather than keeping its own.
    gpu_text = " ".join(runs(named["build-gpu"]))
    if "scripts/setup" not in gpu_text or "libtorch-dev" not in gpu_text:
        errors.append("build-gpu should install scripts/setup's packages less libtorch-dev (Debian's CPU libtorch)")

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


# (what, file, old text, new text): each must make check() report an error.
BREAKS = [
    ("a runtime package dropped from the image", "Dockerfile", " libspng0 ", " "),
    ("an unrelated package added to the image", "Dockerfile", " libicu72 zlib1g", " libicu72 zlib1g libwebp7"),
    ("a -dev package dropped from scripts/setup", "scripts/setup", " libspng-dev", ""),
    ("an unclassified library added to scripts/setup", "scripts/setup", " libspng-dev", " libspng-dev libwebp-dev"),
    ("apt-get install in the builder", "Dockerfile", "RUN scripts/setup && ", "RUN apt-get update && apt-get install -y libfoo-dev && scripts/setup && "),
    ("the builder not running scripts/setup", "Dockerfile", "RUN scripts/setup && ", "RUN true && "),
    ("USER root", "Dockerfile", "USER 10001:10001", "USER root"),
    ("no HEALTHCHECK", "Dockerfile", "HEALTHCHECK ", "# HEALTHCHECK "),
    ("another exposed port", "Dockerfile", "EXPOSE 50051 9090", "EXPOSE 50051 9091"),
    ("the shim elsewhere", "Dockerfile", "ENV STREAMDIT_SENTENCEPIECE_SHIM=/usr/local/lib/",
     "ENV STREAMDIT_SENTENCEPIECE_SHIM=/opt/lib/"),
]


def self_test(dockerfile, setup):
    failures = []
    for label, target, old, new in BREAKS:
        texts = {"Dockerfile": dockerfile, "scripts/setup": setup}
        if old not in texts[target]:
            failures.append(f"self-test: '{label}' no longer applies ({old.strip()!r} not in {target}); update BREAKS")
            continue
        texts[target] = texts[target].replace(old, new, 1)
        if not check(texts["Dockerfile"], texts["scripts/setup"], read_repo_file, use_apt=False):
            failures.append(f"self-test: {label} was not reported")
    return failures


def main():
    dockerfile = read_repo_file("Dockerfile")
    setup = read_repo_file("scripts/setup")
    notes = []
    errors = check(dockerfile, setup, read_repo_file, notes=notes)
    for note in notes:
        print(f"note: {note}")
    if not errors:
        _, stages = stages_of(parse_dockerfile(dockerfile))
        runtime = next(s for s in stages if s["name"] == "runtime-cpu")
        print(f"runtime-cpu installs {len(apt_installed(runtime))} packages, the runtime libraries of "
              f"scripts/setup's: {' '.join(apt_installed(runtime))}")
    failures = self_test(dockerfile, setup)
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
