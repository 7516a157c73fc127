# streamdit's container image. Two variants, chosen with VARIANT:
#
#   docker build -t streamdit:latest .                        # cpu (default): Debian bookworm and
#                                                             # Debian's libtorch 1.13 (CPU only)
#   docker build -t streamdit:gpu --build-arg VARIANT=gpu .   # gpu: CUDA 13.0 on Ubuntu 24.04 and
#                                                             # PyTorch's CUDA libtorch (see below)
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
# Not built in CI (no container registry is reachable there); deploy/README.md says why. The cpu
# variant's runtime package list was checked in a bookworm root filesystem (mmdebstrap) holding
# only those packages: the binary resolves every library and serves. tests/deploy/check_dockerfile.py
# keeps that list in agreement with scripts/setup.

ARG VARIANT=cpu
ARG DEBIAN_IMAGE=debian:bookworm
ARG DEBIAN_RUNTIME_IMAGE=debian:bookworm-slim
ARG CUDA_DEVEL_IMAGE=nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_IMAGE=nvidia/cuda:13.0.1-cudnn-runtime-ubuntu24.04

# ------------------------------------------------------------------------------------------------
# cpu: build with scripts/setup's packages (the same ones CI and developers use) and Debian's
# CPU-only libtorch.
FROM ${DEBIAN_IMAGE} AS build-cpu
WORKDIR /src
# scripts/setup alone first, so that the slow apt layer stays cached until the package list changes.
COPY scripts/setup scripts/setup
RUN scripts/setup && rm -rf /var/lib/apt/lists/*
COPY . .
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
 && cmake --build build -j"$(nproc)" --target streamdit
# The binary and its sentencepiece shim. The shim is dlopen()ed (engine/text/sentencepiece_library.cc):
# the build tree's path compiled into the binary does not exist at run time, so it goes to
# <binary's folder>/../lib, the next place the loader tries (and STREAMDIT_SENTENCEPIECE_SHIM names
# it below).
RUN install -D -s -m 0755 build/server/streamdit /out/usr/local/bin/streamdit \
 && install -D -m 0644 build/lib/libstreamdit_sentencepiece_shim.so \
      /out/usr/local/lib/libstreamdit_sentencepiece_shim.so

# cpu: run. The shared libraries streamdit and its shim link (readelf -d), each the runtime package
# of a package scripts/setup installs; apt brings their own dependencies (libtorch1.13 brings BLAS,
# OpenCV, ...; libgrpc++1.51 brings libgrpc29; libspdlog1.10 brings libfmt9).
FROM ${DEBIAN_RUNTIME_IMAGE} AS runtime-cpu
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libtorch1.13 libopenblas0-pthread \
      libgrpc++1.51 libprotobuf32 libabsl20220623 \
      libprometheus-cpp-core1.0 libprometheus-cpp-pull1.0 \
      libyaml-cpp0.7 libspdlog1.10 libsentencepiece0 libspng0 libicu72 zlib1g \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build-cpu /out/ /

# ------------------------------------------------------------------------------------------------
# gpu: Debian has no CUDA build of libtorch, so this variant uses PyTorch's own libtorch release
# (the "LibTorch, C++/Java" download on pytorch.org: a zip of headers, CMake files and shared
# libraries with CUDA, cuDNN and NCCL bundled, cxx11 ABI) on NVIDIA's CUDA images for Ubuntu 24.04,
# whose apt has the same -dev packages as Debian. UNTESTED: it was never built here (no registry,
# no GPU, and the sources are only built against Debian's libtorch 1.13 so far); expect to adjust
# LIBTORCH_URL to a release whose CUDA matches the base image and the driver, and the code to
# libtorch 2.x's API where it differs. Pin LIBTORCH_SHA256 to the zip you reviewed.
FROM ${CUDA_DEVEL_IMAGE} AS build-gpu
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu130/libtorch-shared-with-deps-2.9.0%2Bcu130.zip
ARG LIBTORCH_SHA256=
WORKDIR /src
COPY scripts/setup scripts/setup
# scripts/setup's package list (read from the script, so there is one list), without Debian's
# CPU-only libtorch and the tests' tools (Python, Node.js, promtool, kubectl); plus what fetches
# the zip.
RUN apt-get update \
 && packages=$(bash -c 'eval "$(sed -n "/^PACKAGES=(/,/^)/p" scripts/setup)"; printf "%s\n" "${PACKAGES[@]}"' \
      | grep -vxE 'libtorch-dev|python3.*|nodejs|npm|clang-format|openssl|prometheus|kubernetes-client') \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      $packages ca-certificates curl unzip \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSL --retry 3 -o /tmp/libtorch.zip "${LIBTORCH_URL}" \
 && if [ -n "${LIBTORCH_SHA256}" ]; then echo "${LIBTORCH_SHA256}  /tmp/libtorch.zip" | sha256sum -c -; fi \
 && unzip -q /tmp/libtorch.zip -d /opt \
 && rm /tmp/libtorch.zip
COPY . .
ENV CCACHE_DIR=/root/.cache/ccache CCACHE_BASEDIR=/src
RUN --mount=type=cache,target=/root/.cache/ccache \
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=/opt/libtorch \
      -DSTREAMDIT_BUILD_TESTS=OFF -DSTREAMDIT_BUILD_BENCH=OFF \
 && cmake --build build -j"$(nproc)" --target streamdit
# The binary, the shim, libtorch's lib/ (the binary's RUNPATH points there), and the names of the
# Ubuntu packages that own every other library the binary and the shim load (dpkg -S over ldd), for
# the runtime stage to install: no hand-kept list of Ubuntu's package names.
RUN install -D -s -m 0755 build/server/streamdit /out/usr/local/bin/streamdit \
 && install -D -m 0644 build/lib/libstreamdit_sentencepiece_shim.so \
      /out/usr/local/lib/libstreamdit_sentencepiece_shim.so \
 && mkdir -p /out/opt/libtorch && cp -a /opt/libtorch/lib /out/opt/libtorch/ \
 && for lib in $(ldd build/server/streamdit build/lib/libstreamdit_sentencepiece_shim.so \
                 | awk '$3 ~ /^\// {print $3}' | grep -v '^/opt/libtorch/' | sort -u); do \
      dpkg -S "$lib" 2>/dev/null || dpkg -S "$(readlink -f "$lib")" 2>/dev/null \
        || { echo "no package owns $lib" >&2; exit 1; }; \
    done > /tmp/owners \
 && cut -d: -f1 /tmp/owners | sort -u > /out/runtime-packages \
 && cat /out/runtime-packages

# gpu: run.
FROM ${CUDA_RUNTIME_IMAGE} AS runtime-gpu
COPY --from=build-gpu /out/runtime-packages /tmp/runtime-packages
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages
COPY --from=build-gpu /out/usr/ /usr/
COPY --from=build-gpu /out/opt/ /opt/
ENV LD_LIBRARY_PATH=/opt/libtorch/lib:${LD_LIBRARY_PATH}

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
