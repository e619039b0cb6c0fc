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
// 2xx is success; 408, 429 and 5xx are retried (honouring Retry-After);
// any other status is a permanent rejection. Transport errors and timeouts
// are retried.
type HTTP struct {
	cfg    HTTPConfig
	set    component.TelemetrySettings
	client *http.Client
}

// NewHTTP returns an HTTP sink; its client is built by Start.
func NewHTTP(cfg HTTPConfig, set component.TelemetrySettings) *HTTP {
	return &HTTP{cfg: cfg, set: set}
}

// Start builds the HTTP client from the confighttp settings.
func (s *HTTP) Start(ctx context.Context, host component.Host) error {
	client, err := s.cfg.ToClient(ctx, host.GetExtensions(), s.set)
	if err != nil {
		return fmt.Errorf("http sink: build client: %w", err)
	}
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
	case code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500:
		err := fmt.Errorf("http sink: server responded %s", resp.Status)
		if d, ok := retryAfter(resp.Header.Get("Retry-After")); ok {
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

// Shutdown closes idle connections.
func (s *HTTP) Shutdown(context.Context) error {
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	return nil
}
