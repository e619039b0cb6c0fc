package sessionexporter

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/confmaptest"
	"go.opentelemetry.io/collector/exporter/exportertest"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/metadata"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/postgres"
	"github.com/crewtrace/crewtrace/record"
)

func loadPostgresConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config_postgres.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadPostgresConfig(t *testing.T) {
	t.Run("all keys", func(t *testing.T) {
		cfg := loadPostgresConfig(t, "postgres")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"postgres"}, sinkNames(cfg))
		assert.Equal(t, postgres.Config{
			DSN:         "postgres://crewtrace@db.internal:5432/crewtrace?sslmode=require",
			PasswordEnv: "CREWTRACE_PG_PASSWORD",
			MaxConns:    8,
			Timeout:     3 * time.Second,
		}, *cfg.Postgres.Get())
	})
	t.Run("defaults", func(t *testing.T) {
		cfg := loadPostgresConfig(t, "postgres_defaults")
		require.NoError(t, confmap.Validate(cfg))
		pg := cfg.Postgres.Get()
		assert.Equal(t, int32(postgres.DefaultMaxConns), pg.MaxConns)
		assert.Equal(t, postgres.DefaultTimeout, pg.Timeout)
		assert.Empty(t, pg.PasswordEnv)
	})
}

func TestValidatePostgresErrors(t *testing.T) {
	tests := []struct {
		name string
		want []string
	}{
		{"bad_postgres_no_dsn", []string{"postgres.dsn must not be empty"}},
		{"bad_postgres_values", []string{
			"postgres.dsn is invalid",
			`postgres.password_env "NOT A NAME" is not an environment variable name`,
			"postgres.max_conns must be at least 1, got 0",
			"postgres.timeout must be positive, got -1s",
		}},
		// A section that is present is a sink: beside file, two sinks; and
		// the section is checked in full.
		{"bad_postgres_beside_file", []string{
			"got 2: [file postgres]",
			"postgres.dsn must not be empty",
			"postgres.max_conns must be at least 1, got 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadPostgresConfig(t, tt.name))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			assert.NotContains(t, err.Error(), "hunter2-secret", "the password must never be printed")
		})
	}
}

func TestCreatePostgresSink(t *testing.T) {
	cfg := loadPostgresConfig(t, "postgres_defaults")
	s, err := newSink(cfg, exportertest.NewNopSettings(metadata.Type).TelemetrySettings)
	require.NoError(t, err)
	require.IsType(t, &postgres.Sink{}, s)
	// Not started: writing is an error, shutting down is not.
	require.ErrorContains(t, s.Write(context.Background(), []record.Encoded{{SessionID: "s-1"}}), "not started")
	require.NoError(t, s.Shutdown(context.Background()))
}
