package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/crewtrace/crewtrace/e2e/harness"
)

// TestMalformedOTLP sends malformed OTLP to the collector's receiver while
// the example crew runs 20 sessions through it: garbage and truncated
// protobuf, a span with a 5-byte trace ID, invalid JSON, a body that is not
// the gzip it claims, an unsupported content type over OTLP/HTTP, and
// garbage and invalid payloads over OTLP/gRPC. Every bad request gets an
// error response (4xx / a gRPC error status), the collector stays up and
// healthy, and the crew's sessions are all recorded exactly as its truth says.
func TestMalformedOTLP(t *testing.T) {
	ctx, env := newEnv(t)
	stack := env.startStack(t, ctx, harness.StackOptions{
		CollectorEnv: []string{harness.EnvGracePeriod + "=1s", harness.EnvSessionTimeout + "=30s"},
	})

	const sessions = 20
	crew := env.startCrew(t, stack, nil,
		"-tasks", fmt.Sprint(sessions), "-concurrency", "10", "-seed", "5", "-latency", "50ms", "-truth", env.truthPath())

	// The bad requests go in while the crew's sessions are open.
	conn, err := grpc.NewClient(stack.Addrs.OTLPGRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	defer conn.Close()
	var wg sync.WaitGroup
	for round := range 3 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for _, c := range badHTTPRequests() {
				checkBadHTTP(t, ctx, stack, round, c)
			}
		}()
		go func() {
			defer wg.Done()
			for name, payload := range badGRPCPayloads() {
				var out []byte
				err := conn.Invoke(ctx, "/opentelemetry.proto.collector.trace.v1.TraceService/Export", &payload, &out,
					grpc.ForceCodecV2(rawCodec{}))
				if assert.Error(t, err, "grpc %s (round %d): accepted", name, round) {
					st, _ := status.FromError(err)
					if round == 0 {
						t.Logf("grpc %s: %s %q", name, st.Code(), st.Message())
					}
					assert.NotEqual(t, "Unavailable", st.Code().String(), "grpc %s: the collector must answer, not drop the connection", name)
				}
			}
		}()
	}
	wg.Wait()
	require.True(t, stack.Collector.Running(), "the collector exited:\n%s", stack.Collector.LogTail(20))
	require.NoError(t, harness.WaitHTTP(ctx, "http://"+stack.Addrs.Health+"/", stack.Collector), "health after the bad requests")

	waitCrew(t, ctx, crew)
	truth, err := harness.ReadTruth(env.truthPath())
	require.NoError(t, err)
	require.Len(t, truth, sessions)
	records := waitForRecords(t, ctx, stack.SessionsPath(), truth)
	for _, tr := range truth {
		t.Run("record/"+tr.Name, func(t *testing.T) {
			checkRecord(t, tr, records[tr.SessionID])
		})
	}
	require.True(t, stack.Collector.Running(), "the collector exited")
	require.NoError(t, stack.Stop())
	all, err := harness.ReadRecords(stack.SessionsPath())
	require.NoError(t, err)
	assert.Len(t, all, sessions, "one record per session, nothing from the bad requests")
}

// badHTTP is one malformed OTLP/HTTP request and the status class it must get.
type badHTTP struct {
	name, contentType, encoding string
	body                        []byte
	want                        int // expected status; 0: any 4xx
}

func badHTTPRequests() []badHTTP {
	valid := validTraceRequest()
	return []badHTTP{
		{name: "garbage protobuf", contentType: "application/x-protobuf", body: bytes.Repeat([]byte{0xff, 0x13, 0x00, 0x8a}, 64), want: http.StatusBadRequest},
		{name: "truncated protobuf", contentType: "application/x-protobuf", body: valid[:len(valid)-7], want: http.StatusBadRequest},
		{name: "5-byte trace ID", contentType: "application/x-protobuf", body: traceRequest(bytes.Repeat([]byte{1}, 5)), want: http.StatusBadRequest},
		{name: "invalid JSON", contentType: "application/json", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":`), want: http.StatusBadRequest},
		{name: "JSON with a bad trace ID", contentType: "application/json", body: []byte(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz","spanId":"0102030405060708","name":"x"}]}]}]}`), want: http.StatusBadRequest},
		{name: "not gzip", contentType: "application/x-protobuf", encoding: "gzip", body: valid, want: http.StatusBadRequest},
		{name: "wrong content type", contentType: "text/plain", body: valid, want: http.StatusUnsupportedMediaType},
		{name: "no content type", body: []byte("hello"), want: 0},
	}
}

func checkBadHTTP(t *testing.T, ctx context.Context, stack *harness.Stack, round int, c badHTTP) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+stack.Addrs.OTLPHTTP+"/v1/traces", bytes.NewReader(c.body))
	require.NoError(t, err)
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.encoding != "" {
		req.Header.Set("Content-Encoding", c.encoding)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if !assert.NoError(t, err, "http %s (round %d)", c.name, round) {
		return
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	resp.Body.Close()
	if round == 0 {
		t.Logf("http %s: %s %s", c.name, resp.Status, strings.TrimSpace(string(body)))
	}
	if c.want != 0 {
		assert.Equal(t, c.want, resp.StatusCode, "http %s (round %d): %s", c.name, round, body)
	} else {
		assert.True(t, resp.StatusCode >= 400 && resp.StatusCode < 500, "http %s (round %d): %s, want 4xx", c.name, round, resp.Status)
	}
}

func badGRPCPayloads() map[string][]byte {
	valid := validTraceRequest()
	return map[string][]byte{
		"garbage":         bytes.Repeat([]byte{0xff, 0x13, 0x00, 0x8a}, 64),
		"truncated":       valid[:len(valid)-7],
		"5-byte trace ID": traceRequest(bytes.Repeat([]byte{1}, 5)),
	}
}

// validTraceRequest is an ExportTraceServiceRequest with one span of a trace
// no session uses, encoded by hand (field numbers from the OTLP protos).
func validTraceRequest() []byte { return traceRequest(bytes.Repeat([]byte{0xab}, 16)) }

func traceRequest(traceID []byte) []byte {
	var span []byte
	span = protowire.AppendTag(span, 1, protowire.BytesType) // trace_id
	span = protowire.AppendBytes(span, traceID)
	span = protowire.AppendTag(span, 2, protowire.BytesType) // span_id
	span = protowire.AppendBytes(span, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	span = protowire.AppendTag(span, 5, protowire.BytesType) // name
	span = protowire.AppendString(span, "malformed-test-span-with-a-long-enough-name")
	var scope []byte
	scope = protowire.AppendTag(scope, 2, protowire.BytesType) // ScopeSpans.spans
	scope = protowire.AppendBytes(scope, span)
	var rs []byte
	rs = protowire.AppendTag(rs, 2, protowire.BytesType) // ResourceSpans.scope_spans
	rs = protowire.AppendBytes(rs, scope)
	var req []byte
	req = protowire.AppendTag(req, 1, protowire.BytesType) // resource_spans
	return protowire.AppendBytes(req, rs)
}
