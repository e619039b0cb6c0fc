package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
	"github.com/crewtrace/crewtrace/store/pgtest"
	"github.com/crewtrace/crewtrace/store/storetest"
)

// sqliteStore writes n generated sessions into a new SQLite file.
func sqliteStore(t *testing.T, n int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := store.Open(context.Background(), path)
	require.NoError(t, err)
	gen := storetest.NewGenerator(3)
	var batch []record.Encoded
	for i := range n {
		for _, r := range gen.Session(i) {
			e, err := record.Encode(r)
			require.NoError(t, err)
			batch = append(batch, e)
		}
	}
	require.NoError(t, st.Write(context.Background(), batch))
	require.NoError(t, st.Close())
	return path
}

// startUI runs `crewtrace ui args…` until the test ends and returns the URL
// of its one stdout line.
func startUI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	var stderr strings.Builder
	go func() {
		done <- run(ctx, append([]string{"ui"}, args...), pw, &stderr)
		_ = pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		assert.Equal(t, 0, <-done, "crewtrace ui exits 0 when stopped; stderr: %s", stderr.String())
	})
	line, err := bufio.NewReader(pr).ReadString('\n')
	require.NoError(t, err, stderr.String())
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	m := regexp.MustCompile(`^crewtrace ui: serving (http://\S+/(\?token=\S+)?)\n$`).FindStringSubmatch(line)
	require.NotNil(t, m, "the one line scripts wait for: %q", line)
	return m[1]
}

func TestUIPrintsItsURLAndServesTheAPI(t *testing.T) {
	path := sqliteStore(t, 30)
	u := startUI(t, nil, "--store", path, "--listen", "127.0.0.1:0")
	assert.NotContains(t, u, ":0/", "the real port")
	assert.NotContains(t, u, "token")
	res, err := http.Get(u + "api/sessions")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var l struct {
		Sessions []struct{ SessionID string } `json:"sessions"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&l))
	assert.Len(t, l.Sessions, 30)
}

func TestUIServesAPostgreSQLStore(t *testing.T) {
	srv, err := pgtest.Start()
	require.NoError(t, err, "PostgreSQL's server binaries (Debian's postgresql package)")
	t.Cleanup(func() { _ = srv.Close() })
	dsn := srv.DSN(srv.NewDatabase(t))
	st, err := store.Open(context.Background(), dsn)
	require.NoError(t, err)
	gen := storetest.NewGenerator(5)
	var batch []record.Encoded
	for i := range 12 {
		for _, r := range gen.Session(i) {
			e, err := record.Encode(r)
			require.NoError(t, err)
			batch = append(batch, e)
		}
	}
	require.NoError(t, st.Write(context.Background(), batch))
	require.NoError(t, st.Close())

	u := startUI(t, nil, "--store", dsn, "--listen", "127.0.0.1:0")
	res, err := http.Get(u + "api/sessions")
	require.NoError(t, err)
	defer res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	var l struct {
		Sessions []struct {
			URL string `json:"url"`
		} `json:"sessions"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&l))
	require.Len(t, l.Sessions, 12)
	page, err := http.Get(strings.TrimSuffix(u, "/") + l.Sessions[0].URL)
	require.NoError(t, err)
	page.Body.Close()
	assert.Equal(t, http.StatusOK, page.StatusCode)
}

func TestUIWithATokenPrintsItInTheURLAndRequiresIt(t *testing.T) {
	path := sqliteStore(t, 2)
	u := startUI(t, map[string]string{TokenEnv: "a token/with&odd=chars"}, "--store", "sqlite:"+path, "--listen", "0.0.0.0:0")
	assert.True(t, strings.HasSuffix(u, "/?token=a+token%2Fwith%26odd%3Dchars"), u)
	base, _, _ := strings.Cut(u, "?")
	base = strings.Replace(base, "0.0.0.0", "127.0.0.1", 1)
	res, err := http.Get(base + "api/sessions")
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, res.StatusCode)
	req, _ := http.NewRequest(http.MethodGet, base+"api/sessions", nil)
	req.Header.Set("X-Crewtrace-Token", "a token/with&odd=chars")
	res, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	assert.Equal(t, http.StatusOK, res.StatusCode)
}

func TestUIStartErrors(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	require.NoError(t, os.WriteFile(notDB, []byte("not a database, just text\n"), 0o644))
	empty := filepath.Join(dir, "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "other.db"))
	require.NoError(t, err)
	require.NoError(t, st.Close())
	for _, tc := range []struct {
		name string
		args []string
		code int
		want error
		msg  string
	}{
		{"no store", []string{"--listen", "127.0.0.1:0"}, 2, errNoStoreFlag, "--store is required"},
		{"missing file", []string{"--store", filepath.Join(dir, "missing.db")}, 1, errOpenStore, "no such file or directory"},
		{"empty file", []string{"--store", empty}, 1, errOpenStore, "no session store there"},
		{"not a database", []string{"--store", notDB}, 1, errOpenStore, "cannot open the session store"},
		{"unreachable postgres", []string{"--store", "postgres://crewtrace@127.0.0.1:1/crewtrace?connect_timeout=2"}, 1, errOpenStore, "127.0.0.1"},
		{"bad postgres dsn", []string{"--store", "postgres://user@host:notaport/db"}, 1, errOpenStore, "cannot open the session store"},
		{"non-loopback without token", []string{"--store", filepath.Join(dir, "other.db"), "--listen", "0.0.0.0:8080"}, 2, errNeedToken, "without a token"},
		{"all interfaces without token", []string{"--store", filepath.Join(dir, "other.db"), "--listen", ":8080"}, 2, errNeedToken, "without a token"},
		{"bad jaeger", []string{"--store", filepath.Join(dir, "other.db"), "--jaeger", "javascript:alert(1)"}, 2, errBadJaeger, "--jaeger must be"},
		{"bad listen", []string{"--store", filepath.Join(dir, "other.db"), "--listen", "nowhere"}, 2, errUsage, "--listen"},
		{"stray argument", []string{"--store", filepath.Join(dir, "other.db"), "extra"}, 2, errUsage, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(TokenEnv, "")
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err := runUI(ctx, tc.args, io.Discard, io.Discard)
			require.Error(t, err)
			assert.True(t, errors.Is(err, tc.want), "%v is %v", err, tc.want)
			assert.Contains(t, err.Error(), tc.msg)
			var out, errOut strings.Builder
			assert.Equal(t, tc.code, run(ctx, append([]string{"ui"}, tc.args...), &out, &errOut))
			assert.Empty(t, out.String(), "nothing on stdout: scripts wait for the serving line")
			assert.Contains(t, errOut.String(), "crewtrace ui: ")
		})
	}
	_, err = os.Stat(filepath.Join(dir, "missing.db"))
	assert.True(t, os.IsNotExist(err), "a read-only viewer creates no file")
}
