# syntax=docker/dockerfile:1
# The gigmesh image: one static-ish `gigmesh` binary that runs every process of the mesh
# (`gigmesh gateway`, `gigmesh serve <service>`, `gigmesh migrate`), on distroless as the
# numeric nonroot user the Helm chart expects (podSecurityContext 65532:65532, read-only root
# file system, command `gigmesh`).
#
#   docker build -t gigmesh:0.1.0 .

FROM rust:1.95-bookworm AS builder
WORKDIR /src
# zlib built into librdkafka, so the runtime image needs no libz.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_TERM_COLOR=never
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin gigmesh \
    && install -D -m 0755 target/release/gigmesh /out/gigmesh

# glibc and libgcc only; no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=builder /out/gigmesh /usr/local/bin/gigmesh
USER 65532:65532
# The gateway, every service's gRPC port (auth, users, notifications, gigs, search, orders,
# payments, chat) and the Prometheus metrics port, as in the chart's defaults.
EXPOSE 8080 50051 50052 50053 50054 50055 50056 50057 50058 9464
ENTRYPOINT ["/usr/local/bin/gigmesh"]
CMD ["--help"]
