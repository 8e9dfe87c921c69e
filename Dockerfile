# whalewatch: a static binary on an empty base image, run as a non-root user.
#
#   docker build -t whalewatch --build-arg VERSION=1.0.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# The build stage runs no shell (exec-form RUN only), so any image with a Go
# 1.26 toolchain at /usr/local/go and CA certificates can be the builder:
# GO_IMAGE names it. With a vendor/ directory in the context the build
# needs no network.
ARG GO_IMAGE=golang:1.26-bookworm

FROM ${GO_IMAGE} AS build
ENV CGO_ENABLED=0 GOPATH=/tmp/go GOCACHE=/tmp/gocache GOFLAGS=-trimpath
WORKDIR /src
COPY . .
# The build runs in the state directory: Podman's buildah keeps a WORKDIR
# in the image only once a step ran in it.
WORKDIR /out/state
RUN ["/usr/local/go/bin/go", "build", "-C", "/src", "-ldflags=-s -w", "-o", "/out/whalewatch", "."]

FROM scratch
ARG VERSION=dev
ARG REVISION=unknown
LABEL org.opencontainers.image.title="whalewatch" \
      org.opencontainers.image.description="Watches Docker events and tells people what matters, in Slack and webhooks" \
      org.opencontainers.image.source="https://github.com/whalewatch/whalewatch" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /out/whalewatch /whalewatch
COPY --from=build --chown=65532:65532 /out/state /var/lib/whalewatch
# VERSION is read at start when the binary carries no version of its own.
ENV WHALEWATCH_VERSION=${VERSION} \
    WHALEWATCH_REVISION=${REVISION} \
    HTTP_ADDR=:9180 \
    STATE_DIR=/var/lib/whalewatch
USER 65532:65532
VOLUME ["/var/lib/whalewatch"]
EXPOSE 9180
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/whalewatch", "healthcheck"]
ENTRYPOINT ["/whalewatch"]
