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
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/sink/storesink"
	"github.com/crewtrace/crewtrace/record"
)

func loadStoreConfig(t *testing.T, name string) *Config {
	t.Helper()
	cm, err := confmaptest.LoadConf(filepath.Join("testdata", "config_store.yaml"))
	require.NoError(t, err)
	cfg := createDefaultConfig().(*Config)
	sub, err := cm.Sub(component.NewIDWithName(metadata.Type, name).String())
	require.NoError(t, err)
	require.NoError(t, sub.Unmarshal(cfg))
	return cfg
}

func TestLoadStoreConfig(t *testing.T) {
	t.Run("postgres", func(t *testing.T) {
		cfg := loadStoreConfig(t, "postgres")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"postgres"}, sinkNames(cfg))
		want := storesink.NewDefaultPostgresConfig()
		want.DSN = "postgres://crewtrace@db.internal:5432/crewtrace?sslmode=verify-full"
		want.PasswordEnv = "CREWTRACE_PG_PASSWORD"
		want.MaxConns = 8
		want.Timeout = 3 * time.Second
		assert.Equal(t, want, *cfg.Postgres.Get())
	})
	t.Run("postgres defaults", func(t *testing.T) {
		cfg := loadStoreConfig(t, "postgres_defaults")
		require.NoError(t, confmap.Validate(cfg))
		pg := cfg.Postgres.Get()
		assert.Equal(t, storesink.DefaultMaxConns, pg.MaxConns)
		assert.Equal(t, storesink.DefaultTimeout, pg.Timeout)
		assert.Empty(t, pg.PasswordEnv)
	})
	t.Run("sqlite", func(t *testing.T) {
		cfg := loadStoreConfig(t, "sqlite")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"sqlite"}, sinkNames(cfg))
		want := storesink.NewDefaultSQLiteConfig()
		want.Path = "/var/lib/crewtrace/sessions.db"
		want.Timeout, want.BusyTimeout = 4*time.Second, 2*time.Second
		want.Mode, want.DirectoryMode = 0o640, 0o700
		assert.Equal(t, want, *cfg.SQLite.Get())
	})
	t.Run("sqlite defaults: an empty section", func(t *testing.T) {
		cfg := loadStoreConfig(t, "sqlite_defaults")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, storesink.NewDefaultSQLiteConfig(), *cfg.SQLite.Get())
		assert.Equal(t, "sessions.db", cfg.SQLite.Get().Path)
	})
	t.Run("every sink at once", func(t *testing.T) {
		cfg := loadStoreConfig(t, "all_sinks")
		require.NoError(t, confmap.Validate(cfg))
		assert.Equal(t, []string{"file", "http", "postgres", "sqlite"}, sinkNames(cfg))
	})
}

func TestValidateStoreErrors(t *testing.T) {
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
		{"bad_sqlite_values", []string{
			"sqlite.path must not be empty",
			"sqlite.timeout must be positive, got 0s",
			"sqlite.busy_timeout must not be negative, got -1s",
			"sqlite.mode must be permission bits in octal such as 0600, got 1130",
		}},
		// A section that is present is a sink, checked in full.
		{"bad_postgres_beside_file", []string{
			"postgres.dsn must not be empty",
			"postgres.max_conns must be at least 1, got 0",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := confmap.Validate(loadStoreConfig(t, tt.name))
			require.Error(t, err)
			for _, w := range tt.want {
				assert.ErrorContains(t, err, w)
			}
			assert.NotContains(t, err.Error(), "hunter2-secret", "the password must never be printed")
		})
	}
}

func TestCreateStoreSinks(t *testing.T) {
	cfg := loadStoreConfig(t, "all_sinks")
	sinks := configuredSinks(cfg, exportertest.NewNopSettings(metadata.Type).TelemetrySettings)
	require.Len(t, sinks, 4)
	for _, ns := range sinks[2:] {
		require.IsType(t, &storesink.Sink{}, ns.sink, ns.key)
		// Not started: writing is an error, shutting down is not.
		require.ErrorContains(t, ns.sink.Write(context.Background(), []record.Encoded{{SessionID: "s-1"}}), "not started")
		require.NoError(t, ns.sink.Shutdown(context.Background()))
	}
}
