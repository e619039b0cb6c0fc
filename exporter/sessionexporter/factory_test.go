package sessionexporter

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/exporter/exportertest"
	"go.opentelemetry.io/collector/pipeline"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
)

func TestFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, metadata.Type, f.Type())
	assert.Equal(t, metadata.TracesStability, f.TracesStability())
	require.NoError(t, componenttest.CheckConfigStruct(f.CreateDefaultConfig()))
}

func TestLifecycle(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"file", func(c *Config) { c.File.GetOrInsertDefault().Path = filepath.Join(t.TempDir(), "s.jsonl") }},
		{"http", func(c *Config) { c.HTTP.GetOrInsertDefault().Endpoint = "http://127.0.0.1:1/records" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFactory()
			cfg := f.CreateDefaultConfig().(*Config)
			tt.mutate(cfg)
			require.NoError(t, confmap.Validate(cfg))
			set := exportertest.NewNopSettings(metadata.Type)
			exp, err := f.CreateTraces(context.Background(), set, cfg)
			require.NoError(t, err)
			require.NotNil(t, exp)
			assert.False(t, exp.Capabilities().MutatesData)
			require.NoError(t, exp.Start(context.Background(), componenttest.NewNopHost()))
			require.NoError(t, exp.Shutdown(context.Background()))
		})
	}
}

func TestShutdownWithoutStart(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	cfg.File.GetOrInsertDefault().Path = filepath.Join(t.TempDir(), "s.jsonl")
	exp, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	require.NoError(t, err)
	assert.NoError(t, exp.Shutdown(context.Background()))
}

// A configuration without a sink section is refused by Validate, and the
// exporter cannot be built from it.
func TestNoSinkRefused(t *testing.T) {
	f := NewFactory()
	cfg := f.CreateDefaultConfig().(*Config)
	assert.ErrorContains(t, confmap.Validate(cfg), "at least one sink section must be set (file, http, postgres, sqlite), got none")
	_, err := f.CreateTraces(context.Background(), exportertest.NewNopSettings(metadata.Type), cfg)
	assert.ErrorContains(t, err, "no sink section set")
}

func TestUnsupportedSignals(t *testing.T) {
	f := NewFactory()
	_, err := f.CreateMetrics(context.Background(), exportertest.NewNopSettings(metadata.Type), f.CreateDefaultConfig())
	assert.ErrorIs(t, err, pipeline.ErrSignalNotSupported)
}
