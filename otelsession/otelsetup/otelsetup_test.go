package otelsetup_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	collmetric "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/otelsession/otelsetup"
)

// clearEnv unsets the variables Setup reads, so the host's cannot leak in.
func clearEnv(t *testing.T) {
	for _, k := range []string{
		"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_INSECURE",
	} {
		t.Setenv(k, "")
	}
}

// received collects what a fake OTLP receiver got.
type received struct {
	mu       sync.Mutex
	spans    []string          // span names
	sessions map[string]string // span name -> session.id
	service  string
	metrics  []string
}

func (r *received) addTraces(req *colltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sessions == nil {
		r.sessions = map[string]string{}
	}
	for _, rs := range req.GetResourceSpans() {
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				r.service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, s.GetName())
				r.sessions[s.GetName()] = attr(s.GetAttributes(), "session.id")
			}
		}
	}
}

func (r *received) addMetrics(req *collmetric.ExportMetricsServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rm := range req.GetResourceMetrics() {
		for _, sm := range rm.GetScopeMetrics() {
			for _, m := range sm.GetMetrics() {
				r.metrics = append(r.metrics, m.GetName())
			}
		}
	}
}

func attr(kvs []*commonpb.KeyValue, key string) string {
	for _, kv := range kvs {
		if kv.GetKey() == key {
			return kv.GetValue().GetStringValue()
		}
	}
	return ""
}

// runSession records one session with one agent through the providers.
func runSession(t *testing.T, p otelsetup.Providers) *otelsession.Session {
	t.Helper()
	ctx, sess := otelsession.Start(context.Background(), append(p.SessionOptions(), otelsession.WithName("setup"))...)
	_, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))
	return sess
}

func TestHTTPProtobufExport(t *testing.T) {
	clearEnv(t)
	var got received
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if !assert.NoError(t, err) {
			return
		}
		switch r.URL.Path {
		case "/v1/traces":
			var req colltrace.ExportTraceServiceRequest
			assert.NoError(t, proto.Unmarshal(body, &req))
			got.addTraces(&req)
		case "/v1/metrics":
			var req collmetric.ExportMetricsServiceRequest
			assert.NoError(t, proto.Unmarshal(body, &req))
			got.addMetrics(&req)
		default:
			t.Errorf("unexpected path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_SERVICE_NAME", "crew-under-test")

	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithServiceName("fallback-name"), otelsetup.WithExportOnlyIfConfigured())
	require.NoError(t, err)
	assert.Equal(t, otelsetup.ExporterOTLP, p.TracesExporter)
	assert.Equal(t, otelsetup.ExporterOTLP, p.MetricsExporter)
	sess := runSession(t, p)
	require.NoError(t, shutdown(context.Background()))

	got.mu.Lock()
	defer got.mu.Unlock()
	assert.ElementsMatch(t, []string{"session setup", "invoke_agent a"}, got.spans)
	assert.Equal(t, sess.ID(), got.sessions["invoke_agent a"])
	assert.Equal(t, "crew-under-test", got.service, "OTEL_SERVICE_NAME wins over WithServiceName")
	assert.Contains(t, got.metrics, "crewtrace.sessions.ended")
}

type traceServer struct {
	colltrace.UnimplementedTraceServiceServer
	got *received
}

func (s traceServer) Export(_ context.Context, req *colltrace.ExportTraceServiceRequest) (*colltrace.ExportTraceServiceResponse, error) {
	s.got.addTraces(req)
	return &colltrace.ExportTraceServiceResponse{}, nil
}

type metricServer struct {
	collmetric.UnimplementedMetricsServiceServer
	got *received
}

func (s metricServer) Export(_ context.Context, req *collmetric.ExportMetricsServiceRequest) (*collmetric.ExportMetricsServiceResponse, error) {
	s.got.addMetrics(req)
	return &collmetric.ExportMetricsServiceResponse{}, nil
}

func TestGRPCExportAndOpenSessions(t *testing.T) {
	clearEnv(t)
	var got received
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	gs := grpc.NewServer()
	colltrace.RegisterTraceServiceServer(gs, traceServer{got: &got})
	collmetric.RegisterMetricsServiceServer(gs, metricServer{got: &got})
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+lis.Addr().String())
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")

	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithServiceName("grpc-crew"))
	require.NoError(t, err)
	runSession(t, p)
	_, open := otelsession.Start(context.Background(), append(p.SessionOptions(), otelsession.WithName("left-open"))...)
	require.NoError(t, shutdown(context.Background()))
	assert.True(t, open.Ended(), "shutdown ends the sessions still open")

	got.mu.Lock()
	defer got.mu.Unlock()
	assert.ElementsMatch(t, []string{"session setup", "invoke_agent a", "session left-open"}, got.spans)
	assert.Equal(t, "grpc-crew", got.service)
	assert.Contains(t, got.metrics, "crewtrace.sessions.active")
}

func TestNothingExportedUnlessConfigured(t *testing.T) {
	clearEnv(t)
	rec := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithExportOnlyIfConfigured(),
		otelsetup.WithSpanProcessor(rec), otelsetup.WithMetricReader(reader), otelsetup.WithServiceName("quiet"))
	require.NoError(t, err)
	assert.Equal(t, otelsetup.ExporterNone, p.TracesExporter)
	assert.Equal(t, otelsetup.ExporterNone, p.MetricsExporter)
	v, ok := p.Resource.Set().Value("service.name")
	require.True(t, ok)
	assert.Equal(t, "quiet", v.AsString())
	runSession(t, p)
	assert.Len(t, rec.Ended(), 2, "extra processors still see every span")
	var rm metricdata.ResourceMetrics
	require.NoError(t, reader.Collect(context.Background(), &rm))
	require.NotEmpty(t, rm.ScopeMetrics)
	assert.Equal(t, otelsession.ScopeName, rm.ScopeMetrics[0].Scope.Name)
	require.NoError(t, shutdown(context.Background()))
}

func TestExporterVariables(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "team=agents,service.name=from-attrs")
	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithServiceName("ignored"))
	require.NoError(t, err)
	assert.Equal(t, otelsetup.ExporterNone, p.TracesExporter)
	assert.Equal(t, otelsetup.ExporterNone, p.MetricsExporter)
	set := p.Resource.Set()
	team, _ := set.Value("team")
	svc, _ := set.Value(attribute.Key("service.name"))
	assert.Equal(t, "agents", team.AsString())
	assert.Equal(t, "from-attrs", svc.AsString())
	require.NoError(t, shutdown(context.Background()))

	// Each Setup (each process) is its own service instance, unless the
	// environment names it.
	id1, ok1 := set.Value("service.instance.id")
	p2, shutdown2, err := otelsetup.Setup(context.Background())
	require.NoError(t, err)
	id2, ok2 := p2.Resource.Set().Value("service.instance.id")
	require.True(t, ok1 && ok2, "service.instance.id is set")
	assert.NotEqual(t, id1.AsString(), id2.AsString(), "one instance ID per process")
	_, err = uuid.Parse(id1.AsString())
	assert.NoError(t, err, "the instance ID is a UUID")
	require.NoError(t, shutdown2(context.Background()))
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=crew-7")
	p3, shutdown3, err := otelsetup.Setup(context.Background())
	require.NoError(t, err)
	id3, _ := p3.Resource.Set().Value("service.instance.id")
	assert.Equal(t, "crew-7", id3.AsString(), "the environment wins")
	require.NoError(t, shutdown3(context.Background()))

	t.Setenv("OTEL_TRACES_EXPORTER", "bogus")
	_, _, err = otelsetup.Setup(context.Background())
	assert.Error(t, err, "an unknown exporter is an error, not a silent default")
}

func TestSDKDisabled(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_SDK_DISABLED", "true")
	p, shutdown, err := otelsetup.Setup(context.Background())
	require.NoError(t, err)
	assert.Equal(t, otelsetup.ExporterNone, p.TracesExporter)
	sess := runSession(t, p)
	assert.False(t, sess.TraceID().IsValid(), "no-op provider: nothing recorded")
	require.NoError(t, shutdown(context.Background()))
}

// listenDefault listens on addr, one of the specification's default OTLP
// ports: the test needs that very port, so a busy one fails it by name.
func listenDefault(t *testing.T, addr string) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", addr)
	require.NoError(t, err, "this test receives on the OTLP default port %s: stop whatever listens there (a collector started by hand?)", addr)
	return lis
}

// otlpHTTPHandler receives OTLP/HTTP protobuf into got, answering status to
// every request of the signal paths in fail.
func otlpHTTPHandler(t *testing.T, got *received, fail map[string]int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, ok := fail[r.URL.Path]; ok {
			http.Error(w, "refused by the test", code)
			return
		}
		body, err := io.ReadAll(r.Body)
		if !assert.NoError(t, err) {
			return
		}
		switch r.URL.Path {
		case "/v1/traces":
			var req colltrace.ExportTraceServiceRequest
			assert.NoError(t, proto.Unmarshal(body, &req))
			got.addTraces(&req)
		case "/v1/metrics":
			var req collmetric.ExportMetricsServiceRequest
			assert.NoError(t, proto.Unmarshal(body, &req))
			got.addMetrics(&req)
		default:
			t.Errorf("unexpected path %s", r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	})
}

// runGlobalSession records one session without provider options: it goes
// through the OTel globals.
func runGlobalSession(t *testing.T, name string) *otelsession.Session {
	t.Helper()
	ctx, sess := otelsession.Start(context.Background(), otelsession.WithName(name))
	_, agent, err := sess.StartAgent(ctx, "a")
	require.NoError(t, err)
	agent.End(nil)
	require.NoError(t, sess.End(otelsession.Success, ""))
	return sess
}

// TestDefaultHTTPEndpoint: no OTEL_* variable at all — OTLP goes to
// http://localhost:4318 in plain HTTP (the specification's default, not
// TLS), and Setup's providers are the globals, so a session started without
// options is exported.
func TestDefaultHTTPEndpoint(t *testing.T) {
	clearEnv(t)
	var got received
	srv := &http.Server{Handler: otlpHTTPHandler(t, &got, nil)}
	lis := listenDefault(t, "127.0.0.1:4318")
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()

	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithServiceName("defaults"))
	require.NoError(t, err)
	assert.Equal(t, otelsetup.ExporterOTLP, p.TracesExporter)
	assert.Same(t, p.TracerProvider, otel.GetTracerProvider(), "Setup installs its TracerProvider as the global")
	assert.Same(t, p.MeterProvider, otel.GetMeterProvider(), "and its MeterProvider")
	sess := runGlobalSession(t, "through-globals")
	require.NoError(t, shutdown(context.Background()), "plain HTTP to the default endpoint: nothing fails")

	got.mu.Lock()
	defer got.mu.Unlock()
	assert.ElementsMatch(t, []string{"session through-globals", "invoke_agent a"}, got.spans)
	assert.Equal(t, sess.ID(), got.sessions["session through-globals"])
	assert.Equal(t, "defaults", got.service)
	assert.Contains(t, got.metrics, "crewtrace.sessions.ended")
}

// TestDefaultGRPCEndpoint: OTEL_EXPORTER_OTLP_PROTOCOL=grpc and no endpoint —
// OTLP/gRPC goes to localhost:4317 without TLS.
func TestDefaultGRPCEndpoint(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	var got received
	lis := listenDefault(t, "127.0.0.1:4317")
	gs := grpc.NewServer()
	colltrace.RegisterTraceServiceServer(gs, traceServer{got: &got})
	collmetric.RegisterMetricsServiceServer(gs, metricServer{got: &got})
	go func() { _ = gs.Serve(lis) }()
	defer gs.Stop()

	_, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithServiceName("grpc-defaults"))
	require.NoError(t, err)
	runGlobalSession(t, "grpc-through-globals")
	require.NoError(t, shutdown(context.Background()))

	got.mu.Lock()
	defer got.mu.Unlock()
	assert.ElementsMatch(t, []string{"session grpc-through-globals", "invoke_agent a"}, got.spans)
	assert.Contains(t, got.metrics, "crewtrace.sessions.ended")
}

// TestWithoutGlobals leaves the globals alone.
func TestWithoutGlobals(t *testing.T) {
	clearEnv(t)
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	t.Setenv("OTEL_METRICS_EXPORTER", "none")
	before := otel.GetTracerProvider()
	p, shutdown, err := otelsetup.Setup(context.Background(), otelsetup.WithoutGlobals())
	require.NoError(t, err)
	assert.Same(t, before, otel.GetTracerProvider())
	assert.NotSame(t, p.TracerProvider, otel.GetTracerProvider())
	require.NoError(t, shutdown(context.Background()))
}

// TestShutdownReturnsEveryError: an export refused by the receiver is in the
// shutdown function's error, for traces and for metrics alike.
func TestShutdownReturnsEveryError(t *testing.T) {
	for _, tc := range []struct {
		name         string
		fail         map[string]int
		want, absent []string
	}{
		{"traces", map[string]int{"/v1/traces": http.StatusBadRequest}, []string{"otelsetup: traces:"}, []string{"otelsetup: metrics:"}},
		{"metrics", map[string]int{"/v1/metrics": http.StatusBadRequest}, []string{"otelsetup: metrics:"}, []string{"otelsetup: traces:"}},
		{"both", map[string]int{"/v1/traces": http.StatusBadRequest, "/v1/metrics": http.StatusBadRequest},
			[]string{"otelsetup: traces:", "otelsetup: metrics:"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			var got received
			srv := httptest.NewServer(otlpHTTPHandler(t, &got, tc.fail))
			defer srv.Close()
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
			_, shutdown, err := otelsetup.Setup(context.Background())
			require.NoError(t, err)
			runGlobalSession(t, "refused")
			err = shutdown(context.Background())
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			for _, n := range tc.absent {
				assert.NotContains(t, err.Error(), n)
			}
		})
	}
}
