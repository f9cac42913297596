# eventcrawl and the eventbrite-replay test site in one image.
#   docker build -t eventcrawl .
#   docker run --rm --shm-size=1g eventcrawl --help
# docker-compose.yml runs the crawler against the replay site and PostgreSQL.

# Build stage: Debian 12 packages only. Boost comes from the versioned 1.81 packages because
# the unversioned libboost-dev is 1.74 and conflicts with them. clang++-19 builds the code
# because g++ 12 miscompiles temporaries inside co_await expressions.
FROM debian:bookworm-slim AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        clang-19 \
        cmake \
        ninja-build \
        libboost1.81-dev \
        libboost-json1.81-dev \
        libboost-url1.81-dev \
        libpqxx-dev \
        libpq-dev \
        libsqlite3-dev \
        libyaml-cpp-dev \
        libspdlog-dev \
        libfmt-dev \
        libcli11-dev \
        libhowardhinnant-date-dev \
        doctest-dev \
        libssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN CXX=clang++-19 cmake -S . -B /build -G Ninja \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_RUNTIME_OUTPUT_DIRECTORY=/out/bin \
    && cmake --build /build --target eventcrawl eventbrite-replay

# Runtime stage: Chromium (the headless shell, without the desktop browser), the shared libraries the two programs link, and tini as PID 1 so
# that the crash handler processes Chromium leaves behind are reaped.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        chromium-headless-shell \
        tini \
        tzdata \
        ca-certificates \
        libboost-json1.81.0 \
        libboost-url1.81.0 \
        libboost-system1.81.0 \
        libboost-container1.81.0 \
        libpqxx-6.4 \
        libpq5 \
        libsqlite3-0 \
        libyaml-cpp0.7 \
        libspdlog1.10 \
        libfmt9 \
        libdate-tz3 \
        libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 10001 --shell /usr/sbin/nologin eventcrawl
COPY --from=build /out/bin/eventcrawl /out/bin/eventbrite-replay /usr/local/bin/
WORKDIR /app
COPY cities.yaml /app/cities.yaml
COPY replay/corpus /app/replay/corpus
ENV EVENTCRAWL_CHROMIUM=/usr/lib/chromium/chromium-headless-shell
USER eventcrawl
ENTRYPOINT ["/usr/bin/tini", "--", "eventcrawl"]
CMD ["--help"]
