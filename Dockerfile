# streamdit's container image. Two variants, chosen with VARIANT:
#
#   docker build -t streamdit:latest .                        # cpu (default): runs on the CPU, no
#                                                             # GPU driver needed
#   docker build -t streamdit:gpu --build-arg VARIANT=gpu .   # gpu: the CUDA build, for NVIDIA GPUs
#                                                             # (driver >= 580, CUDA 13.0)
#
# Both are Debian bookworm, built with scripts/setup (the same Debian packages and the same pinned
# Python packages as CI and development), and take libtorch from PyPI's torch wheel pinned in
# scripts/requirements.txt, as the build does everywhere: no Debian libtorch, no other download.
# That wheel is a CUDA 13.0 build: its CMake config needs a CUDA toolkit even to build the CPU
# variant (taken from NVIDIA's image below, as Debian has no CUDA 13), and libtorch_cpu.so itself
# links libcudart and libcupti, so the cpu image carries the CUDA libraries that the binary loads
# too (they load without a GPU or a driver); the gpu image carries all of torch/lib and the whole
# nvidia-* library folders they use (cuDNN, NVRTC and others dlopen() their siblings).
#
# BuildKit (Docker >= 23's default builder; buildah and podman likewise) builds only the stages the
# chosen variant needs; the cache mounts below need it too.
#
# What runs: `streamdit serve --config /etc/streamdit/config.yaml` as user streamdit (uid 10001),
# gRPC (with grpc.health.v1 and reflection) on 0.0.0.0:50051, Prometheus /metrics on 0.0.0.0:9090.
# /etc/streamdit/config.yaml is deploy/k8s/overlays/cpu-demo/config.yaml: the demo model on the
# CPU, written to /models/flux1-demo on first start. The repository's config/ (default.yaml,
# examples/) is in /etc/streamdit/ too. To serve real models mount a configuration over
# /etc/streamdit/config.yaml (Kubernetes: the ConfigMap) and the model folders under /models.
# `docker stop` waits 10 s by default: give it the grace period (`docker stop -t 90`,
# `docker run --stop-timeout 90`) so that accepted requests finish.
#
# Not built in CI (no container registry is reachable there); deploy/README.md says why.
# tests/deploy/check_dockerfile.py keeps this file in agreement with scripts/setup,
# scripts/requirements.txt and the configuration. Each runtime stage checks at build time that
# the binary finds every library it links (the cpu one runs it), so a library left out fails the
# image build rather than the container.

ARG VARIANT=cpu
ARG DEBIAN_IMAGE=debian:bookworm
ARG DEBIAN_RUNTIME_IMAGE=debian:bookworm-slim
# The CUDA toolkit the build compiles with: the major.minor of torch's CUDA (torch.version.cuda of
# the pinned wheel, 13.0), whatever the update.
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:13.0.2-devel-ubuntu24.04

# ------------------------------------------------------------------------------------------------
# The CUDA toolkit, used only as a source of files: NVIDIA's toolkit binaries are the same for
# every distribution (glibc >= 2.28), so the Ubuntu image's /usr/local/cuda-13.0 works on bookworm.
FROM ${CUDA_DEVEL_IMAGE} AS cuda-toolkit

# ------------------------------------------------------------------------------------------------
# build: Debian bookworm, scripts/setup, then the streamdit target for VARIANT.
FROM ${DEBIAN_IMAGE} AS build
# scripts/setup expects the toolkit at /usr/local/cuda (Debian has no CUDA 13 toolkit); nvcc on
# PATH, as in NVIDIA's images: libtorch's CMake config enables the CUDA language even for cpu.
COPY --from=cuda-toolkit /usr/local/cuda-13.0 /usr/local/cuda-13.0
RUN ln -s cuda-13.0 /usr/local/cuda
ENV PATH=/usr/local/cuda/bin:${PATH}
# scripts/setup alone first, so that the slow apt and pip layer stays cached until the package
# lists change. It installs the Debian packages and creates the virtual environment
# /opt/streamdit/.venv (the folder above its scripts/) with scripts/requirements.txt's pins: the
# torch wheel is the libtorch the build links. Outside /src, so that the source COPY below cannot
# replace it (a developer's .venv in the build context lands in /src/.venv, unused).
WORKDIR /opt/streamdit
COPY scripts/setup scripts/requirements.txt scripts/
RUN --mount=type=cache,target=/root/.cache/pip \
    scripts/setup && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src
# Declared here, after the slow layers, so that both variants share them.
ARG VARIANT
# cpu: without the CUDA path (STREAMDIT_CUDA=OFF; libtorch's CUDA libraries are still linked).
RUN --mount=type=cache,target=/root/.cache/ccache \
    case "${VARIANT}" in cpu) cuda=OFF ;; gpu) cuda=ON ;; \
      *) echo "VARIANT must be cpu or gpu, not ${VARIANT}" >&2; exit 1 ;; esac \
 && cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DSTREAMDIT_PYTHON=/opt/streamdit/.venv/bin/python3 -DSTREAMDIT_CUDA="$cuda" \
      -DSTREAMDIT_BUILD_TESTS=OFF -DSTREAMDIT_BUILD_BENCH=OFF \
 && cmake --build build -j"$(nproc)" --target streamdit
# The binary and its sentencepiece shim. The shim is dlopen()ed
# (engine/text/sentencepiece_library.cc): the build tree's path compiled into the binary does not
# exist at run time, so it goes to <binary's folder>/../lib, the next place the loader tries (and
# STREAMDIT_SENTENCEPIECE_SHIM names it below).
RUN install -D -s -m 0755 build/server/streamdit /out/usr/local/bin/streamdit \
 && install -D -m 0644 build/lib/libstreamdit_sentencepiece_shim.so \
      /out/usr/local/lib/libstreamdit_sentencepiece_shim.so
# libtorch from the wheel, under /out/opt/pytorch laid out as in site-packages (torch/lib,
# nvidia/<package>/lib), so that the RPATH of torch's libraries ($ORIGIN/../../nvidia/*/lib) still
# holds; /etc/ld.so.conf.d/streamdit-pytorch.conf names those folders for the runtime's ldconfig
# (the binary's RUNPATH names the builder's venv and toolkit, absent at run time).
# - ldd resolves with the wheel's folders first, as the image will: anything not found (but the
#   driver's libcuda.so.1, which the NVIDIA container toolkit mounts) or found only in the CUDA
#   toolkit (which the runtime lacks) fails the build here.
# - cpu: exactly the wheel's libraries that the binary loads (ldd follows their dependencies).
# - gpu: all of torch/lib, and the whole folders of the nvidia-* packages that the binary and
#   torch/lib's libraries load from: their libraries dlopen() siblings that ldd cannot see (cuDNN's
#   engines, NVRTC's builtins, cuSOLVER for torch_cuda_linalg).
RUN set -eu; \
    site=$(realpath "$(/opt/streamdit/.venv/bin/python3 -c \
      'import sysconfig; print(sysconfig.get_paths()["purelib"])')"); \
    export LD_LIBRARY_PATH="$(ls -d "$site"/torch/lib "$site"/nvidia/*/lib | paste -sd: -)"; \
    objects=build/server/streamdit; \
    if [ "${VARIANT}" = gpu ]; then objects="$objects $(ls "$site"/torch/lib/*.so*)"; fi; \
    ldd $objects > /tmp/ldd; \
    missing=$(grep 'not found' /tmp/ldd | grep -v 'libcuda\.so\.1 ' | sort -u || true); \
    if [ -n "$missing" ]; then \
      echo "not found with the wheel's libraries: $missing" >&2; exit 1; fi; \
    if grep '=> /usr/local/cuda' /tmp/ldd >&2; then \
      echo "loaded from the CUDA toolkit (above), which the runtime image lacks" >&2; exit 1; fi; \
    awk '$2 == "=>" && $3 ~ /^\// {print $3}' /tmp/ldd | xargs realpath | grep "^$site/" \
      | sort -u > /tmp/loaded; \
    if [ "${VARIANT}" = gpu ]; then \
      { find "$site/torch/lib" -maxdepth 1 -type f -name '*.so*'; \
        for dir in $(xargs -n1 dirname < /tmp/loaded | sort -u); do \
          find "$dir" -maxdepth 1 -type f -name '*.so*'; done; } | sort -u > /tmp/copy; \
    else cp /tmp/loaded /tmp/copy; fi; \
    mkdir -p /out/opt/pytorch /out/etc/ld.so.conf.d; \
    sed "s|^$site/||" /tmp/copy | (cd "$site" && xargs cp --parents -t /out/opt/pytorch); \
    find /out/opt/pytorch -type f -printf '%h\n' | sed 's|^/out||' | sort -u \
      > /out/etc/ld.so.conf.d/streamdit-pytorch.conf; \
    cat /out/etc/ld.so.conf.d/streamdit-pytorch.conf; du -sh /out/opt/pytorch

# ------------------------------------------------------------------------------------------------
# runtime-base: the Debian libraries streamdit and its shim link (readelf -d), each the runtime
# package of a package scripts/setup installs (apt brings their own dependencies: libgrpc++1.51
# brings libgrpc29, libspdlog1.10 brings libfmt9), then the build's /out and the loader's cache.
FROM ${DEBIAN_RUNTIME_IMAGE} AS runtime-base
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libyaml-cpp0.7 libspdlog1.10 libsentencepiece0 libspng0 libicu72 zlib1g \
      libssl3 libjpeg62-turbo libwebp7 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/ /
RUN ldconfig

# cpu: runs the binary once (it loads every library it links, and libtorch's static initializers
# run), without a GPU driver, as the cpu image will.
FROM runtime-base AS runtime-cpu
RUN streamdit --help > /dev/null

# gpu: the NVIDIA container toolkit mounts the driver (libcuda.so.1) when these are set (as
# NVIDIA's own images set them); NVIDIA_REQUIRE_CUDA refuses a driver too old for CUDA 13.0 with a
# clear message. No driver here at build time: ldd checks every other library resolves.
FROM runtime-base AS runtime-gpu
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    NVIDIA_REQUIRE_CUDA="cuda>=13.0"
RUN missing=$(ldd /usr/local/bin/streamdit /opt/pytorch/torch/lib/*.so* | grep 'not found' \
      | grep -v 'libcuda\.so\.1 ' | sort -u); \
    if [ -n "$missing" ]; then echo "not found: $missing" >&2; exit 1; fi

# ------------------------------------------------------------------------------------------------
# Both variants: configuration, user, ports, health check.
FROM runtime-${VARIANT} AS runtime
ENV STREAMDIT_SENTENCEPIECE_SHIM=/usr/local/lib/libstreamdit_sentencepiece_shim.so
RUN groupadd --system --gid 10001 streamdit \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/streamdit --create-home \
      --shell /usr/sbin/nologin streamdit \
 && install -d -o 10001 -g 10001 /models
COPY config/ /etc/streamdit/
COPY deploy/k8s/overlays/cpu-demo/config.yaml /etc/streamdit/config.yaml
USER 10001:10001
WORKDIR /var/lib/streamdit
# gRPC (config listen) and Prometheus /metrics (config metrics_listen).
EXPOSE 50051 9090
# `streamdit status` exits 0 once the server serves and 1 while it is unreachable or still loading
# its models; loading FLUX.1-dev from disk takes minutes, hence the long start period.
HEALTHCHECK --interval=30s --timeout=15s --start-period=15m --retries=3 \
  CMD ["streamdit", "status", "--server", "127.0.0.1:50051", "--timeout", "10"]
ENTRYPOINT ["streamdit"]
CMD ["serve", "--config", "/etc/streamdit/config.yaml"]
