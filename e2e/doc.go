// Package e2e holds crewtrace's end-to-end tests: the example crew, the
// collector distribution and Jaeger v2 run as real processes on loopback
// (see package harness), and the checks on the deployment files
// (docker-compose.yml, the Dockerfiles, collector-config.yaml).
//
// The binaries are built into .build/ and reused; the first build of Jaeger
// takes minutes (`make e2e-build` does it ahead of `go test`).
package e2e
