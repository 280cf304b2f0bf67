# syntax=docker/dockerfile:1
# floe, CPU build. Two stages: the first builds with Debian's -dev packages
# (scripts/install-deps.sh, the same list CI uses); the second is debian:12-slim with
# only the shared libraries the binary loads, found by ldd in the first stage.
#
#   docker build -t floe:0.1.0 .
#   docker run --rm -p 50050:50050 -p 8080:8080 floe:0.1.0
#   docker run --rm -p 50050:50050 -p 8080:8080 -v hf:/home/floe/.cache/huggingface \
#     -e HF_TOKEN floe:0.1.0 serve --model Snowflake/snowflake-arctic-embed-m-v1.5 --host 0.0.0.0

FROM debian:12-slim AS build
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN ./scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# A failing step of a pipeline fails its RUN (hadolint DL4006).
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Tests and benchmarks are not built: CI runs them, the image only needs `floe`.
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DFLOE_BUILD_TESTS=OFF \
      -DFLOE_BUILD_BENCH=OFF \
 && cmake --build /build -j "$(nproc)" --target floe floe_shared \
 && cmake --install /build --prefix /opt/floe \
 && /opt/floe/bin/floe --version
# The Debian packages that own the libraries `floe` loads: the runtime stage installs
# exactly these (names are the same there: same distribution). Matching on
# "<arch dir>/<soname>" keeps 32-bit look-alikes (lib32stdc++6) out.
RUN ldd /opt/floe/bin/floe | awk '/=> \// { print $3 }' \
    | awk -F/ '{ print "*/" $(NF-1) "/" $NF }' | { xargs dpkg -S 2>/dev/null || true; } \
    | cut -d: -f1 | sort -u > /opt/floe/runtime-packages \
 && cat /opt/floe/runtime-packages

FROM debian:12-slim
COPY --from=build /opt/floe/runtime-packages /tmp/runtime-packages
# ca-certificates: models by id are downloaded over HTTPS. curl: the HEALTHCHECK.
# hadolint ignore=DL3008,SC2046
RUN apt-get update && apt-get install -y --no-install-recommends \
      ca-certificates curl $(cat /tmp/runtime-packages) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages \
 && useradd --system --uid 10001 --user-group --create-home --home-dir /home/floe floe
COPY --from=build /opt/floe/bin/floe /usr/local/bin/floe
COPY --from=build /src/models/demo /opt/floe/models/demo
USER 10001:10001
WORKDIR /home/floe
# Models by id land in the Hugging Face cache: mount a volume here to keep them.
ENV HF_HOME=/home/floe/.cache/huggingface
EXPOSE 50050 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]
# SIGTERM drains in-flight requests (--drain-timeout), then exits.
STOPSIGNAL SIGTERM
ENTRYPOINT ["floe"]
CMD ["serve", "--model", "/opt/floe/models/demo", "--host", "0.0.0.0"]
