package sink

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/config/configcompression"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/consumer/consumererror"

	"github.com/crewtrace/crewtrace/record"
)

func newHTTPSink(t *testing.T, url string, mutate func(*HTTPConfig)) *HTTP {
	t.Helper()
	cfg := HTTPConfig{ClientConfig: confighttp.NewDefaultClientConfig()}
	cfg.Endpoint = url
	if mutate != nil {
		mutate(&cfg)
	}
	s := NewHTTP(cfg, componenttest.NewNopTelemetrySettings(), 30*time.Second)
	require.NoError(t, s.Start(context.Background(), componenttest.NewNopHost()))
	t.Cleanup(func() { assert.NoError(t, s.Shutdown(context.Background())) })
	return s
}

func TestHTTPStatuses(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		wantErr    bool
		permanent  bool
		throttled  bool
	}{
		{name: "200", status: 200},
		{name: "204", status: 204},
		{name: "400 permanent", status: 400, wantErr: true, permanent: true},
		{name: "404 permanent", status: 404, wantErr: true, permanent: true},
		{name: "408 retryable", status: 408, wantErr: true},
		{name: "429 with Retry-After", status: 429, retryAfter: "2", wantErr: true, throttled: true},
		{name: "500 retryable", status: 500, wantErr: true},
		{name: "503 bad Retry-After", status: 503, retryAfter: "soon", wantErr: true},
		{name: "307 retryable, not followed", status: 307, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []map[string]any
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, http.MethodPost, r.Method)
				assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&got))
				if tt.retryAfter != "" {
					w.Header().Set("Retry-After", tt.retryAfter)
				}
				w.WriteHeader(tt.status)
			}))
			defer srv.Close()
			s := newHTTPSink(t, srv.URL, nil)
			err := s.Write(context.Background(), []record.Encoded{
				{SessionID: "a", JSON: []byte(`{"session_id":"a","revision":0}`)},
				{SessionID: "b", Revision: 1, JSON: []byte(`{"session_id":"b","revision":1}`)},
			})
			assert.Equal(t, []map[string]any{{"session_id": "a", "revision": 0.0}, {"session_id": "b", "revision": 1.0}}, got)
			if !tt.wantErr {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Equal(t, tt.permanent, consumererror.IsPermanent(err))
			assert.Equal(t, tt.throttled, strings.Contains(err.Error(), "Throttle (2s)"), err.Error())
		})
	}
}

func TestHTTPHeadersAndCompression(t *testing.T) {
	var auth, encoding string
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth, encoding = r.Header.Get("Authorization"), r.Header.Get("Content-Encoding")
		zr, err := gzip.NewReader(r.Body)
		if assert.NoError(t, err) {
			body, _ = io.ReadAll(zr)
		}
	}))
	defer srv.Close()
	s := newHTTPSink(t, srv.URL, func(c *HTTPConfig) {
		c.Headers = configopaque.MapList{{Name: "Authorization", Value: "Bearer t0ken"}}
		c.Compression = configcompression.TypeGzip
	})
	require.NoError(t, s.Write(context.Background(), []record.Encoded{{SessionID: "a", JSON: []byte(`{"a":1}`)}}))
	assert.Equal(t, "Bearer t0ken", auth)
	assert.Equal(t, "gzip", encoding)
	assert.JSONEq(t, `[{"a":1}]`, string(body))
}

func TestHTTPTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	s := newHTTPSink(t, srv.URL, func(c *HTTPConfig) { c.Timeout = 50 * time.Millisecond })
	err := s.Write(context.Background(), []record.Encoded{{SessionID: "a", JSON: []byte(`{}`)}})
	require.Error(t, err)
	assert.False(t, consumererror.IsPermanent(err))
}

func TestHTTPNotStarted(t *testing.T) {
	s := NewHTTP(HTTPConfig{}, componenttest.NewNopTelemetrySettings(), 0)
	err := s.Write(context.Background(), nil)
	assert.True(t, consumererror.IsPermanent(err))
	assert.NoError(t, s.Shutdown(context.Background()))
}

// A redirect is never followed: the records and the credentials (headers
// and auth act on every request the client makes) would go to whatever host
// the server names. It is a retryable error naming the target.
func TestHTTPSinkDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{301, 302, 303, 307, 308} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			var elsewhere []string
			other := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				elsewhere = append(elsewhere, r.Method+" "+r.Header.Get("Authorization"))
			}))
			defer other.Close()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, other.URL+"/collect", status)
			}))
			defer srv.Close()
			s := newHTTPSink(t, srv.URL, func(c *HTTPConfig) {
				c.Headers = configopaque.MapList{{Name: "Authorization", Value: "Bearer t0ken"}}
			})
			err := s.Write(context.Background(), []record.Encoded{{SessionID: "a", JSON: []byte(`{}`)}})
			require.Error(t, err)
			assert.False(t, consumererror.IsPermanent(err), "retryable: the records wait until the endpoint is fixed")
			assert.ErrorContains(t, err, "redirects are not followed")
			assert.ErrorContains(t, err, other.URL+"/collect")
			assert.Empty(t, elsewhere, "the other host received nothing, no token")
		})
	}
}

// A Retry-After beyond the retry policy's max_interval waits max_interval,
// not the ~292 years a server may ask for.
func TestHTTPRetryAfterCappedAtMaxInterval(t *testing.T) {
	for header, want := range map[string]string{"3": "Throttle (3s)", "1000000": "Throttle (30s)", "99999999999999": "Throttle (30s)"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", header)
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		s := newHTTPSink(t, srv.URL, nil) // max_interval 30s
		err := s.Write(context.Background(), []record.Encoded{{SessionID: "a", JSON: []byte(`{}`)}})
		srv.Close()
		require.Error(t, err)
		assert.Contains(t, err.Error(), want, "Retry-After: %s", header)
	}
}

func TestRetryAfter(t *testing.T) {
	d, ok := retryAfter("3")
	assert.True(t, ok)
	assert.Equal(t, 3*time.Second, d)
	for _, v := range []string{"", "-1", "Wed, 21 Oct 2015 07:28:00 GMT"} {
		_, ok := retryAfter(v)
		assert.False(t, ok, v)
	}
}

func TestHTTPConfigValidate(t *testing.T) {
	assert.EqualError(t, (&HTTPConfig{}).Validate(), "http.endpoint must not be empty")
	cfg := HTTPConfig{ClientConfig: confighttp.NewDefaultClientConfig()}
	cfg.Endpoint = "https://records.example.internal/v1/sessions"
	assert.NoError(t, cfg.Validate())
}
