# syntax=docker/dockerfile:1
# Build stage: compile the release binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY migrations ./migrations
COPY src ./src
COPY tests ./tests
COPY openapi ./openapi
RUN cargo build --release --locked --bin workorders

# Runtime stage: a small image with the binary only, running as a non-root user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /data --create-home workorders
COPY --from=build /src/target/release/workorders /usr/local/bin/workorders
USER workorders
WORKDIR /data
ENV WORKORDERS_BIND=0.0.0.0:8080 \
    DATABASE_URL=sqlite:///data/workorders.db \
    WORKORDERS_DATA_DIR=/data \
    WORKORDERS_LOG_FORMAT=json \
    WORKORDERS_PROFILE=production
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/livez || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["workorders"]
CMD ["serve"]
