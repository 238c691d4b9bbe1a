# syntax=docker/dockerfile:1
# Multi-stage build: a static socialbridge binary on a distroless base,
# running as a non-root user. The embedded database (pure-Go SQLite) needs
# no cgo, so CGO_ENABLED=0 gives a fully static binary.
FROM golang:1.26-bookworm AS build
# The image defaults to GOTOOLCHAIN=local; auto builds with the release that
# go.mod's toolchain line names (with the standard library's security fixes),
# fetched from the module proxy when the image's Go is older.
ENV GOTOOLCHAIN=auto
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/socialbridge ./cmd/socialbridge \
 && mkdir -p -m 0700 /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/socialbridge /usr/local/bin/socialbridge
COPY --from=build --chown=65532:65532 /out/data /data
# Production by default: without real settings (SOCIALBRIDGE_SERVER_PUBLIC_URL,
# the encryption key, a provider) the container refuses to start and says
# which keys are missing, rather than running dev mode, whose test-user
# provider signs anyone in, on every interface. Set those variables (secrets
# through *_FILE) or mount a config file and pass -config; keep the SQLite
# file on the /data volume for one host, or set MONGODB_URI for several.
#
# Dev mode listens on loopback only, which cannot be reached from outside a
# container, so dev mode in Docker takes two explicit settings, and the port
# should be published on the host's loopback only:
#   docker run -p 127.0.0.1:8080:8080 -e SOCIALBRIDGE_MODE=dev \
#     -e SOCIALBRIDGE_SERVER_ALLOW_DEV_ON_ALL_INTERFACES=true -v sbdata:/data socialbridge
# Metrics listen on every interface inside the container (loopback could
# not be scraped); publish 9464 only to the monitoring network.
ENV SOCIALBRIDGE_MODE=production \
    SOCIALBRIDGE_DATA_DIR=/data \
    SOCIALBRIDGE_SERVER_ADDR=:8080 \
    SOCIALBRIDGE_METRICS_ADDR=:9464
USER 65532:65532
EXPOSE 8080 9464
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/socialbridge"]
CMD ["serve"]
