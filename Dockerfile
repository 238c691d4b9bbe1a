# syntax=docker/dockerfile:1
# Multi-stage build: a static socialbridge binary on a distroless base,
# running as a non-root user. The embedded database (pure-Go SQLite) needs
# no cgo, so CGO_ENABLED=0 gives a fully static binary.
FROM golang:1.26-bookworm AS build
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
# Listen on all interfaces inside the container; data (the SQLite database,
# dev-mode secrets) lives on a volume. Production: set SOCIALBRIDGE_MODE,
# SOCIALBRIDGE_SERVER_PUBLIC_URL and the secrets (or mount a config file and
# pass -config); keep the SQLite file on the /data volume for one host, or
# set MONGODB_URI for several.
ENV SOCIALBRIDGE_DATA_DIR=/data \
    SOCIALBRIDGE_SERVER_ADDR=:8080
USER 65532:65532
EXPOSE 8080
VOLUME ["/data"]
ENTRYPOINT ["/usr/local/bin/socialbridge"]
CMD ["serve"]
