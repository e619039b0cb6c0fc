package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestConfigValidate(t *testing.T) {
	valid := func() Config {
		c := NewDefaultConfig()
		c.DSN = "postgres://crewtrace@127.0.0.1:5432/sessions?sslmode=disable"
		return c
	}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantErr []string
	}{
		{name: "valid url", mutate: func(*Config) {}},
		{name: "valid key=value", mutate: func(c *Config) { c.DSN = "host=127.0.0.1 port=5432 user=crewtrace dbname=sessions" }},
		{name: "valid password_env", mutate: func(c *Config) { c.PasswordEnv = "CREWTRACE_PG_PASSWORD" }},
		{name: "no dsn", mutate: func(c *Config) { c.DSN = "" }, wantErr: []string{"postgres.dsn must not be empty"}},
		{
			name:    "unparsable dsn",
			mutate:  func(c *Config) { c.DSN = "postgres://crewtrace:s3cr3t-pw@127.0.0.1:notaport/db" },
			wantErr: []string{"postgres.dsn is invalid"},
		},
		{name: "bad password_env", mutate: func(c *Config) { c.PasswordEnv = "NOT A NAME" }, wantErr: []string{"postgres.password_env \"NOT A NAME\""}},
		{name: "zero max_conns", mutate: func(c *Config) { c.MaxConns = 0 }, wantErr: []string{"postgres.max_conns must be at least 1, got 0"}},
		{name: "zero timeout", mutate: func(c *Config) { c.Timeout = 0 }, wantErr: []string{"postgres.timeout must be positive, got 0s"}},
		{
			name:    "all at once",
			mutate:  func(c *Config) { c.DSN, c.MaxConns, c.Timeout = "host=127.0.0.1 port=x", -1, -time.Second },
			wantErr: []string{"postgres.dsn is invalid", "postgres.max_conns", "postgres.timeout"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.wantErr) == 0 {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), "s3cr3t-pw", "the password must be redacted")
		})
	}
}

func TestPasswordFromEnvironment(t *testing.T) {
	db, pool := newDB(t)
	t.Setenv("CREWTRACE_TEST_PG_PASSWORD", srv.Password)
	cfg := testConfig(db)
	cfg.DSN = configopaque.String(srv.DSNWithoutPassword(db))
	cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
	s := startSink(t, cfg, nil)
	require.NoError(t, s.Write(context.Background(), enc(t, rec("s-1", 0))))
	assert.Equal(t, int64(1), one[int64](t, pool, "SELECT count(*) FROM crewtrace_sessions"))
}

func TestPasswordEnvUnset(t *testing.T) {
	cfg := testConfig("postgres")
	cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD_UNSET"
	s := New(cfg, nil)
	err := s.Start(context.Background(), componenttest.NewNopHost())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CREWTRACE_TEST_PG_PASSWORD_UNSET")
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestPasswordNeverInErrorsOrLogs(t *testing.T) {
	db := srv.NewDatabase(t)
	const wrong = "wrong-password-7f3a"

	t.Run("wrong password fails Start", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		t.Setenv("CREWTRACE_TEST_PG_PASSWORD", wrong)
		cfg := testConfig(db)
		cfg.PasswordEnv = "CREWTRACE_TEST_PG_PASSWORD"
		s := New(cfg, zap.New(core))
		err := s.Start(context.Background(), componenttest.NewNopHost())
		require.Error(t, err, "authentication failure is not transient")
		assert.Contains(t, err.Error(), "password authentication failed")
		assert.NotContains(t, err.Error(), wrong)
		assert.NotContains(t, err.Error(), srv.Password)
		for _, e := range logs.All() {
			assert.NotContains(t, e.Message+" "+fmtFields(e.ContextMap()), wrong)
		}
		require.NoError(t, s.Shutdown(context.Background()))
	})

	t.Run("unreachable database", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		cfg := testConfig(db)
		// A closed port, password in the DSN.
		cfg.DSN = configopaque.String("postgres://crewtrace:" + wrong + "@127.0.0.1:1/" + db + "?sslmode=disable&connect_timeout=2")
		s := New(cfg, zap.New(core))
		require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
		err := s.Write(context.Background(), enc(t, rec("s-1", 0)))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), wrong)
		require.NotZero(t, logs.Len())
		for _, e := range logs.All() {
			assert.NotContains(t, e.Message+" "+fmtFields(e.ContextMap()), wrong)
		}
		require.NoError(t, s.Shutdown(context.Background()))
	})
}

func fmtFields(m map[string]any) string {
	var out string
	for k, v := range m {
		out += k + "=" + toString(v) + " "
	}
	return out
}

func toString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	if e, ok := v.(error); ok {
		return e.Error()
	}
	return ""
}

func TestRedactErr(t *testing.T) {
	err := redactErr(assert.AnError, []string{"ab"}) // too short to mask
	assert.Same(t, assert.AnError, err)
	masked := redactErr(&wrapped{msg: "dial user:p%40ss-word@host failed"}, []string{"p@ss-word"})
	assert.Equal(t, "dial user:xxxxx@host failed", masked.Error())
	var w *wrapped
	assert.ErrorAs(t, masked, &w, "redaction keeps the chain for errors.As")
}

type wrapped struct{ msg string }

func (w *wrapped) Error() string { return w.msg }
