package hotpath

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
)

// Load is the OTLP traffic every pipeline receives: Sessions generated
// sessions (testgen.Session: a root, an agent, LLM and tool calls, an action
// event per tool call) of SpansPerSession spans, as OTLP/gRPC export requests
// of about BatchSpans spans each, encoded once before any collector starts.
//
// Spans arrive as an SDK's batch span processor sends them: the sessions run
// in waves of Wave, every child span of a wave is sent before the wave's
// session roots (a root ends last), and a request holds spans of many
// sessions under one resource.
type Load struct {
	Sessions, SpansPerSession, BatchSpans, Wave int
	// requests are the encoded ExportTraceServiceRequest bodies.
	requests [][]byte
	spans    int
}

// NewLoad generates and encodes the load.
func NewLoad(sessions, spansPerSession, batchSpans, wave int) (*Load, error) {
	if sessions <= 0 || spansPerSession <= 0 || batchSpans <= 0 || wave <= 0 {
		return nil, fmt.Errorf("hotpath: load sizes must be positive: sessions %d, spans %d, batch %d, wave %d", sessions, spansPerSession, batchSpans, wave)
	}
	l := &Load{Sessions: sessions, SpansPerSession: spansPerSession, BatchSpans: batchSpans, Wave: wave}
	// The spans in the order they are sent: per wave, children, then roots.
	var order []ptrace.Span
	res := testgen.Session(0, 1).ResourceSpans().At(0) // every session has this resource and scope
	for base := 0; base < sessions; base += wave {
		var wv []ptrace.SpanSlice
		for i := base; i < min(base+wave, sessions); i++ {
			wv = append(wv, testgen.Session(i, spansPerSession).ResourceSpans().At(0).ScopeSpans().At(0).Spans())
		}
		for _, rootPass := range []bool{false, true} {
			for _, ss := range wv {
				for k := 0; k < ss.Len(); k++ {
					if s := ss.At(k); s.ParentSpanID().IsEmpty() == rootPass {
						order = append(order, s)
					}
				}
			}
		}
	}
	for len(order) > 0 {
		n := min(batchSpans, len(order))
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		res.Resource().CopyTo(rs.Resource())
		ss := rs.ScopeSpans().AppendEmpty()
		res.ScopeSpans().At(0).Scope().CopyTo(ss.Scope())
		ss.Spans().EnsureCapacity(n)
		for _, s := range order[:n] {
			s.CopyTo(ss.Spans().AppendEmpty())
		}
		b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			return nil, fmt.Errorf("hotpath: encode load: %w", err)
		}
		l.requests = append(l.requests, b)
		l.spans += n
		order = order[n:]
	}
	return l, nil
}

// Spans returns the number of spans in the load.
func (l *Load) Spans() int { return l.spans }

// Requests returns the number of export requests in the load.
func (l *Load) Requests() int { return len(l.requests) }

// Bodies returns the encoded export requests (ExportTraceServiceRequest
// protobuf), in sending order, for in-process benchmarks of the same load.
// They are shared: callers must not modify them.
func (l *Load) Bodies() [][]byte { return l.requests }

const exportMethod = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"

// rawCodec sends bytes encoded in advance as they are, so the driver spends
// no CPU encoding (the machine is shared with the collector it measures),
// and discards the response (an ExportTraceServiceResponse; partial success
// is not used by any pipeline here).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("hotpath: raw codec cannot marshal %T", v)
	}
	return *b, nil
}
func (rawCodec) Unmarshal([]byte, any) error { return nil }
func (rawCodec) Name() string                { return "proto" }

var _ encoding.Codec = rawCodec{}

// dial connects to the collector's OTLP/gRPC receiver.
func dial(addr string) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
}

// ping sends an empty export request: it succeeds once the receiver and the
// pipeline behind it are up.
func ping(ctx context.Context, conn *grpc.ClientConn) error {
	empty := []byte{}
	var resp []byte
	return conn.Invoke(ctx, exportMethod, &empty, &resp)
}

// send exports every request of the load over conn, from workers goroutines
// (requests in order, several in flight, as an SDK exporter with several
// connections would). An export the collector refuses fails the run: no
// pipeline here may push back on this load.
func (l *Load) send(ctx context.Context, conn *grpc.ClientConn, workers int) error {
	next := make(chan []byte)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range max(1, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				var resp []byte
				if err := conn.Invoke(ctx, exportMethod, &b, &resp); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, b := range l.requests {
		select {
		case next <- b:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("hotpath: %d of %d exports failed: %w", len(errs), len(l.requests), errors.Join(errs[0]))
	}
	return ctx.Err()
}
