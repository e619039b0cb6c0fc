// Package metadata holds the session exporter's component metadata and its
// telemetry instruments. It mirrors what mdatagen would generate from
// ../../metadata.yaml (mdatagen is not available to this build); keep the
// two in step by hand.
package metadata

import (
	"go.opentelemetry.io/collector/component"
)

var (
	// Type is the component type: `session`.
	Type = component.MustNewType("session")
	// ScopeName is the instrumentation scope of the exporter's own telemetry.
	ScopeName = "github.com/crewtrace/crewtrace/exporter/sessionexporter"
)

// TracesStability is the stability of the traces signal.
const TracesStability = component.StabilityLevelAlpha
