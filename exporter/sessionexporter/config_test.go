package sessionexporter

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink"
	"github.com/crewtrace/crewtrace/pricing"
)

func loadConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadConfig(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		cfg := loadConfig(t, "")
		assert.Equal(t, createDefaultConfig(), cfg)
		assert.Equal(t, 5*time.Second, cfg.GracePeriod)
		assert.Equal(t, 5*time.Minute, cfg.SessionTimeout)
		assert.False(t, cfg.File.HasValue(), "no sink section: no sink")
		assert.False(t, cfg.HTTP.HasValue())
		assert.False(t, cfg.Postgres.HasValue())
		assert.True(t, cfg.QueueConfig.Get().BlockOnOverflow, "the records queue applies back-pressure by default")
		assert.Zero(t, cfg.BackOffConfig.MaxElapsedTime, "sink writes are retried until they succeed by default")
		assert.Nil(t, cfg.StorageID, "no storage extension by default")
		assert.Equal(t, int64(256<<20), cfg.MaxBytes, "memory is bounded by default")
		assert.Equal(t, 8<<10, cfg.MaxAttributeBytes, "client values are bounded by default")
		assert.Equal(t, 128, cfg.MaxEventsPerSpan)
	})
	t.Run("file", func(t *testing.T) {
		cfg := loadConfig(t, "file")
		require.NoError(t, confmap.Validate(cfg))
		require.True(t, cfg.File.HasValue(), "an empty section is present: the file sink with its defaults")
		assert.Equal(t, sink.FileConfig{Path: "sessions.jsonl", MaxMegabytes: 100, MaxBackups: 5, Mode: 0o600, DirectoryMode: 0o750}, *cfg.File.Get())
		assert.False(t, cfg.HTTP.HasValue())
		assert.Equal(t, []string{"file"}, sinkNames(cfg))
	})
	t.Run("custom", func(t *testing.T) {
		cfg := loadConfig(t, "custom")
		require.NoError(t, confmap.Validate(cfg))
		want := createDefaultConfig().(*Config)
		want.GracePeriod = 2 * time.Second
		want.SessionTimeout = time.Minute
		want.MaxSessions = 500
		want.MaxSpans = 20000
		want.MaxBytes = 64 << 20
		want.MaxAttributeBytes = 1024
		want.MaxEventsPerSpan = 16
		want.MaxRecordSpans = 50
		want.IncludeRootless = true
		want.TraceURLBase = "http://localhost:16686"
		want.File = configoptional.Some(sink.FileConfig{Path: "/var/lib/crewtrace/sessions.jsonl", MaxMegabytes: 10, MaxBackups: 2, Mode: 0o640, DirectoryMode: 0o700})
		assert.Equal(t, want, cfg)
	})
	t.Run("http", func(t *testing.T) {
		cfg := loadConfig(t, "http")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"http"}, sinkNames(cfg))
		h := cfg.HTTP.Get()
		assert.Equal(t, "https://records.example.internal/v1/sessions", h.Endpoint)
		assert.Equal(t, 3*time.Second, h.Timeout)
		assert.Equal(t, configcompression.TypeGzip, h.Compression)
		v, ok := h.Headers.Get("Authorization")
		require.True(t, ok)
		assert.Equal(t, configopaque.String("Bearer secret"), v)
		assert.Equal(t, 10*time.Second, cfg.Timeout)
		assert.Equal(t, time.Second, cfg.BackOffConfig.InitialInterval)
		assert.Equal(t, 2*time.Minute, cfg.BackOffConfig.MaxElapsedTime)
		assert.Equal(t, int64(50), cfg.QueueConfig.Get().QueueSize)
		assert.Equal(t, 2, cfg.QueueConfig.Get().NumConsumers)
	})
	t.Run("storage", func(t *testing.T) {
		cfg := loadConfig(t, "storage")
		require.NoError(t, confmap.Validate(cfg))
		want := component.MustNewID("file_storage")
		assert.Equal(t, &want, cfg.StorageID)
		assert.Equal(t, &want, cfg.QueueConfig.Get().StorageID)
		assert.True(t, cfg.QueueConfig.Get().BlockOnOverflow, "the default queue settings stay")
	})
	t.Run("two_sinks", func(t *testing.T) {
		cfg := loadConfig(t, "two_sinks")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"file", "http"}, sinkNames(cfg), "every section that is set is a sink")
	})
	t.Run("pricing", func(t *testing.T) {
		cfg := loadConfig(t, "pricing")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, PricingConfig{Enabled: true, File: "testdata/prices.json"}, cfg.Pricing)
		tab, err := cfg.Pricing.table()
		require.NoError(t, err)
		assert.Equal(t, pricing.Default().Version()+"+acme-2026-12", tab.Version())
		_, ok := tab.Match("azure.ai.openai", "gpt-5-mini-2025-08-07")
		assert.True(t, ok, "the file's entry")
		_, ok = tab.Match("anthropic", "claude-haiku-4-5")
		assert.True(t, ok, "the defaults")
		assert.True(t, loadConfig(t, "").Pricing.Enabled, "pricing is on by default")
	})
	t.Run("pricing_off", func(t *testing.T) {
		cfg := loadConfig(t, "pricing_off")
		require.NoError(t, confmap.Validate(cfg))
		tab, err := cfg.Pricing.table()
		require.NoError(t, err)
		assert.Nil(t, tab)
	})
	t.Run("file_disabled", func(t *testing.T) {
		cfg := loadConfig(t, "file_disabled")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"http"}, sinkNames(cfg), "enabled: false turns a section off")
	})
}

func sinkNames(cfg *Config) []string {
	var names []string
	for _, s := range cfg.sinks() {
		names = append(names, s.key)
	}
	return names
}

func TestValidateErrors(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"bad_grace", []string{"grace_period must be positive"}},
		{"bad_timeout", []string{"session_timeout (5s) must not be shorter than grace_period (10s)"}},
		{"bad_zero_timeout", []string{"session_timeout must be positive"}},
		{"bad_limits", []string{"max_sessions must be positive, got 0", "max_spans must be positive, got -1",
			"max_bytes must be positive, got 0", "max_attribute_bytes must be at least 64, got 63", "max_events_per_span must be positive, got 0",
			"max_record_spans must not be negative, got -1"}},
		{"bad_no_sink", []string{"at least one sink section must be set (file, http, postgres, sqlite), got none"}},
		{"bad_file", []string{"file.path must not be empty", "file.max_megabytes must not be negative", "file.max_backups must not be negative"}},
		{"bad_http", []string{"http.endpoint must not be empty"}},
		{"bad_url", []string{`trace_url_base must be an absolute URL, got "localhost:16686"`}},
		{"bad_pricing", []string{`pricing.file: pricing: invalid price table: testdata/prices_bad.json: models[1] (provider "openai", model "gpt-typo"): json: unknown field "ouptut"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadConfig(t, tt.name))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
		})
	}
}

// The sink: key of earlier versions is refused when the configuration is
// read, naming the key; its sections now select the sink.
func TestSinkKeyRemoved(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	err := confmap.NewFromStringMap(map[string]any{"sink": "http", "http": map[string]any{"endpoint": "http://x"}}).Unmarshal(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "has invalid keys: sink")
}

func TestTickInterval(t *testing.T) {
	for _, tt := range []struct{ grace, want time.Duration }{
		{5 * time.Second, time.Second},
		{2 * time.Second, 500 * time.Millisecond},
		{time.Millisecond, 10 * time.Millisecond},
	} {
		cfg := &Config{GracePeriod: tt.grace}
		assert.Equal(t, tt.want, cfg.tickInterval(), "grace %s", tt.grace)
	}
}
