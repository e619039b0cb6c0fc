# The crewtrace collector (cmd/otelcol-crewtrace) with collector-config.yaml.
# Build context: the repository root (docker-compose.yml does this):
#   docker build -f deploy/collector.Dockerfile -t crewtrace/otelcol-crewtrace:0.1.0 .

FROM golang:1.26 AS build
WORKDIR /src
# Module files first, so the download layer is reused while only code changes.
# The distribution's go.mod replaces the root module, the exporter module and
# the store module with these directories; it is built on its own (GOWORK=off), from exactly
# the versions its go.mod/go.sum pin.
COPY go.mod go.sum ./
COPY exporter/sessionexporter/go.mod exporter/sessionexporter/go.sum exporter/sessionexporter/
COPY store/go.mod store/go.sum store/
COPY cmd/otelcol-crewtrace/go.mod cmd/otelcol-crewtrace/go.sum cmd/otelcol-crewtrace/
RUN cd cmd/otelcol-crewtrace && GOWORK=off go mod download
COPY . .
RUN cd cmd/otelcol-crewtrace && CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/otelcol-crewtrace .

FROM alpine:3.22
RUN adduser -D -H -u 10001 crewtrace && mkdir -p /data /etc/crewtrace && chown 10001 /data
COPY --from=build /out/otelcol-crewtrace /usr/local/bin/otelcol-crewtrace
COPY collector-config.yaml /etc/crewtrace/collector-config.yaml
# Sink overlays, one per sink; docker-compose.yml adds one with a second --config.
COPY deploy/sinks /etc/crewtrace/sinks
# Gateway and session collector configurations (docker-compose.yml, profile kafka).
COPY deploy/kafka /etc/crewtrace/kafka
USER 10001
# Session records go to the volume; the rest of collector-config.yaml's
# defaults (loopback listeners) are overridden by docker-compose.yml.
ENV CREWTRACE_SESSIONS_DIR=/data
VOLUME ["/data"]
EXPOSE 4317 4318 13133
ENTRYPOINT ["/usr/local/bin/otelcol-crewtrace"]
CMD ["--config", "/etc/crewtrace/collector-config.yaml"]
