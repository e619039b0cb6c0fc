# The example crew (examples/crew). It exports OTLP to $OTEL_EXPORTER_OTLP_ENDPOINT.
# Build context: the repository root (docker-compose.yml does this):
#   docker build -f deploy/crew.Dockerfile -t crewtrace/example-crew:0.1.0 .

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
COPY examples/go.mod examples/go.sum examples/
RUN cd examples && GOWORK=off go mod download
COPY . .
RUN cd examples && CGO_ENABLED=0 GOWORK=off go build -trimpath -ldflags="-s -w" -o /out/crew ./crew

FROM alpine:3.22
RUN adduser -D -H -u 10001 crewtrace
COPY --from=build /out/crew /usr/local/bin/crew
USER 10001
ENTRYPOINT ["/usr/local/bin/crew"]
