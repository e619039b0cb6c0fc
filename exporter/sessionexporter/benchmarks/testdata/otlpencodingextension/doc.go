// Package otlpencodingextension is an empty stand-in; see go.mod.
package otlpencodingextension
