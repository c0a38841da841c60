# syntax=docker/dockerfile:1
# PlantSync container image: both jobs (StreamSync, BatchSync) in one image; the Kubernetes
# manifests pick the executable with `command:`.
#
#   docker build -t plantsync:dev .                 # any machine with a Docker engine
#   minikube image build -t plantsync:dev .         # straight into minikube (stg)
#
# Stage 1 builds in release on the official Swift image. The Swift runtime and Foundation are linked
# statically (--static-swift-stdlib), so the runtime stage needs no /usr/lib/swift/linux/*.so, only
# the Debian packages listed in deploy/runtime-packages.txt (the one list; k8s/tests/test_image.py
# checks it against what the binaries link).

FROM swift:6.3-bookworm AS build
# The C client libraries' headers (the same packages scripts/lib/deps.sh installs for development),
# and libcurl's link name: statically linked FoundationNetworking links -lcurl (usually already in
# the Swift image).
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        pkg-config libpq-dev librdkafka-dev libmongoc-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies in their own layer so source edits do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product BatchSync \
    && swift build -c release --static-swift-stdlib --product StreamSync \
    && mkdir -p /out \
    && cp "$(swift build -c release --show-bin-path)/BatchSync" \
          "$(swift build -c release --show-bin-path)/StreamSync" /out/

FROM debian:bookworm-slim AS runtime
COPY deploy/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
    && sed -e 's/#.*//' -e '/^[[:space:]]*$/d' /tmp/runtime-packages.txt \
        | xargs env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
    && groupadd --system --gid 10001 plantsync \
    && useradd --system --uid 10001 --gid plantsync --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin plantsync
COPY --from=build /out/BatchSync /out/StreamSync /usr/local/bin/
# Fail the build, not the pod, if the runtime stage lacks a shared library.
RUN for bin in /usr/local/bin/BatchSync /usr/local/bin/StreamSync; do \
        if ldd "$bin" | grep -q 'not found'; then ldd "$bin"; exit 1; fi; \
    done \
    && /usr/local/bin/BatchSync --version && /usr/local/bin/StreamSync --version
# Numeric user so Kubernetes can verify runAsNonRoot without resolving names.
USER 10001:10001
EXPOSE 8080
CMD ["StreamSync", "--help"]
