package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crewtrace/crewtrace/e2e/harness"
	"github.com/crewtrace/crewtrace/otelsession"
	"github.com/crewtrace/crewtrace/store"
)

// TestKafkaSessionOverSeveralTraces: a chat writes one trace per turn, all
// with the same session ID. Routed by trace ID, a session's turns land on
// different partitions, hence different session collectors, through both
// gateways; the shared store combines them: each session has its three
// traces, every span and token counted once, and some sessions were
// written by more than one collector.
func TestKafkaSessionOverSeveralTraces(t *testing.T) {
	if kafkaPlain() {
		t.Log("plain setup: no fault here, same expectations")
	}
	ctx, k := startKafka(t)
	var tps []*sdktrace.TracerProvider
	for _, gw := range k.stack.Gateways {
		exp, err := otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(gw.OTLP), otlptracegrpc.WithInsecure())
		require.NoError(t, err)
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(100*time.Millisecond)),
			sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "chat-e2e"))))
		tps = append(tps, tp)
	}
	const sessions, turns = 60, 3
	const in, out = 100, 20
	ids := make([]string, sessions)
	for i := range sessions {
		id := uuid.New()
		ids[i] = id.String()
		for turn := range turns {
			tp := tps[(i+turn)%len(tps)]
			sctx, sess := otelsession.Start(ctx, otelsession.WithID(id), otelsession.WithName("chat"),
				otelsession.WithTracerProvider(tp))
			actx, agent, err := sess.StartAgent(sctx, "assistant")
			require.NoError(t, err)
			_, call, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Provider: "openai", Model: "gpt-4o"})
			require.NoError(t, err)
			call.End(otelsession.LLMResponse{InputTokens: in + turn, OutputTokens: out}, nil)
			agent.End(nil)
			require.NoError(t, sess.End(otelsession.Success, ""))
		}
	}
	for _, tp := range tps {
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		require.NoError(t, tp.Shutdown(sctx), "flushed to the gateways")
		cancel()
	}

	st, err := store.Open(ctx, k.dsn, store.WithPassword(k.pw), store.ReadOnly())
	require.NoError(t, err)
	defer st.Close()
	wantTokens := int64(turns*in + turns*(turns-1)/2 + turns*out)
	pctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	require.NoError(t, harness.Poll(pctx, "every session with its three traces", func(ctx context.Context) (bool, string, error) {
		for _, id := range ids {
			s, err := st.Session(ctx, id)
			if err != nil {
				return false, id + ": " + err.Error(), nil
			}
			if s.Summary.Traces != turns || s.Summary.Spans != turns*3 {
				return false, fmt.Sprintf("%s: %d traces, %d spans", id, s.Summary.Traces, s.Summary.Spans), nil
			}
		}
		return true, "", nil
	}))
	for _, id := range ids {
		s, err := st.Session(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, int64(turns), s.Summary.LLMCalls, id)
		assert.Equal(t, wantTokens, s.Summary.Tokens.Total, id)
		for _, tr := range s.Traces {
			assert.True(t, tr.Record.Complete, "%s: trace %s complete", id, tr.Record.TraceID)
		}
	}
	n, err := st.CountSessions(ctx, store.Filter{})
	require.NoError(t, err)
	assert.Equal(t, int64(sessions), n, "one session per session ID")

	// Which collectors wrote each session's traces (the fragment starts
	// with the collector's instance name).
	cfg, err := pgx.ParseConfig(k.dsn)
	require.NoError(t, err)
	cfg.Password = k.pw
	conn, err := pgx.ConnectConfig(ctx, cfg)
	require.NoError(t, err)
	defer conn.Close(ctx)
	var spread int
	require.NoError(t, conn.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT session_id FROM crewtrace_traces GROUP BY session_id
		HAVING count(DISTINCT split_part(fragment, '/', 1)) > 1) s`).Scan(&spread))
	t.Logf("%d sessions of %d traces each; %d written by more than one session collector", sessions, turns, spread)
	if !kafkaPlain() {
		assert.Positive(t, spread, "some sessions' traces were assembled by different collectors")
	}
}
