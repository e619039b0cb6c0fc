package sink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/exporter/exporterhelper"

	"github.com/crewtrace/crewtrace/record"
)

// HTTPConfig configures the HTTP sink: every confighttp client setting (TLS,
// headers, auth, compression, timeout, proxy) applies.
type HTTPConfig struct {
	confighttp.ClientConfig `mapstructure:",squash"`

	_ struct{}
}

// Validate checks that the section names an endpoint; the client settings
// validate themselves (confighttp).
func (c *HTTPConfig) Validate() error {
	if c.Endpoint == "" {
		return errors.New("http.endpoint must not be empty")
	}
	return nil
}

// HTTP POSTs each batch of records as a JSON array to an endpoint.
//
// 2xx is success; 408, 429 and 5xx are retried (honouring Retry-After, up
// to the retry policy's max_interval); any other 4xx is a permanent
// rejection. Transport errors and timeouts are retried.
//
// Redirects are refused, never followed: a 3xx is a retryable error that
// names the status and the target. Following one would send the records and
// the credentials — confighttp's headers and auth extensions act on every
// request the client makes, a redirected one included, so stripping them in
// the client is not possible — to wherever the server points; and a 301,
// 302 or 303 would turn the POST into a GET without its body. The endpoint
// must be the final URL.
type HTTP struct {
	cfg      HTTPConfig
	set      component.TelemetrySettings
	maxDelay time.Duration
	client   *http.Client
}

// NewHTTP returns an HTTP sink; its client is built by Start. maxDelay caps
// the delay a server's Retry-After asks for (the retry policy's
// max_interval); 0 leaves only the overflow cap.
func NewHTTP(cfg HTTPConfig, set component.TelemetrySettings, maxDelay time.Duration) *HTTP {
	return &HTTP{cfg: cfg, set: set, maxDelay: maxDelay}
}

// Start builds the HTTP client from the confighttp settings; it does not
// follow redirects.
func (s *HTTP) Start(ctx context.Context, host component.Host) error {
	client, err := s.cfg.ToClient(ctx, host.GetExtensions(), s.set)
	if err != nil {
		return fmt.Errorf("http sink: build client: %w", err)
	}
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	s.client = client
	return nil
}

// Write POSTs the records as one JSON array.
func (s *HTTP) Write(ctx context.Context, recs []record.Encoded) error {
	if s.client == nil {
		return consumererror.NewPermanent(errors.New("http sink: not started"))
	}
	size := 2
	for _, r := range recs {
		size += len(r.JSON) + 1
	}
	body := make([]byte, 0, size)
	body = append(body, '[')
	for i, r := range recs {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, r.JSON...)
	}
	body = append(body, ']')

	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.Endpoint, bytes.NewReader(body))
	if err != nil {
		return consumererror.NewPermanent(fmt.Errorf("http sink: build request: %w", err))
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("http sink: post: %w", err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()

	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		return nil
	case code >= 300 && code < 400:
		return fmt.Errorf("http sink: server redirected the records (%s to %q); redirects are not followed, "+
			"they would carry the credentials elsewhere: set http.endpoint to the final URL",
			resp.Status, cut(resp.Header.Get("Location"), 256))
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("http sink: server responded %s", resp.Status)
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
			if s.maxDelay > 0 {
				d = min(d, s.maxDelay)
			}
			return exporterhelper.NewThrottleRetry(err, d)
		}
		return err
	default:
		return consumererror.NewPermanent(fmt.Errorf("http sink: server rejected records: %s", resp.Status))
	}
}

// maxRetryAfter is the longest Retry-After delay: larger second counts are
// clamped to it instead of overflowing time.Duration into a negative delay.
const maxRetryAfter = time.Duration(math.MaxInt64/int64(time.Second)) * time.Second

// retryAfter parses a Retry-After header given in seconds.
func retryAfter(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	secs, err := strconv.Atoi(v)
	if err != nil || secs < 0 {
		return 0, false
	}
	if secs > int(maxRetryAfter/time.Second) {
		return maxRetryAfter, true
	}
	return time.Duration(secs) * time.Second, true
}

// cut returns at most n bytes of a server-supplied value for a message.
func cut(v string, n int) string {
	if len(v) <= n {
		return v
	}
	return v[:n] + "…"
}

// Shutdown closes idle connections.
func (s *HTTP) Shutdown(context.Context) error {
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return nil
}
