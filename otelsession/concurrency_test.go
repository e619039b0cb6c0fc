package otelsession_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crewtrace/crewtrace/otelsession"
)

// TestConcurrentSessions runs 200 sessions at once, each with agents working
// in their own goroutines, and checks each forms its own complete trace.
func TestConcurrentSessions(t *testing.T) {
	const sessions, agents, eventsPerAgent = 200, 3, 4
	e := newEnv(t)

	type result struct {
		id      string
		traceID trace.TraceID
		agents  map[string]string // agent ID -> name
	}
	results := make([]result, sessions)
	var wg sync.WaitGroup
	for i := range sessions {
		wg.Go(func() {
			ctx, sess := otelsession.Start(context.Background(), e.opts(otelsession.WithName(fmt.Sprintf("task-%d", i)))...)
			res := result{id: sess.ID(), traceID: sess.TraceID(), agents: map[string]string{}}
			var mu sync.Mutex
			var inner sync.WaitGroup
			for j := range agents {
				inner.Go(func() {
					name := fmt.Sprintf("agent-%d-%d", i, j)
					actx, agent, err := sess.StartAgent(ctx, name)
					if !assert.NoError(t, err) {
						return
					}
					mu.Lock()
					res.agents[agent.ID()] = name
					mu.Unlock()
					for k := range eventsPerAgent {
						assert.NoError(t, otelsession.RecordEvent(actx, otelsession.Event{Type: fmt.Sprintf("ev-%d", k), Params: map[string]any{"session": i}}))
					}
					lctx, llm, err := otelsession.StartLLMCall(actx, otelsession.LLMRequest{Model: "m"})
					if assert.NoError(t, err) {
						_, tool, err := otelsession.StartToolCall(lctx, "t")
						if assert.NoError(t, err) {
							tool.End("", nil)
						}
						llm.End(otelsession.LLMResponse{InputTokens: i + 1}, nil)
					}
					agent.End(nil)
				})
			}
			inner.Wait()
			results[i] = res
			assert.NoError(t, sess.End(otelsession.Success, ""))
		})
	}
	wg.Wait()

	byTrace := map[trace.TraceID][]sdktrace.ReadOnlySpan{}
	for _, s := range e.rec.Ended() {
		byTrace[s.SpanContext().TraceID()] = append(byTrace[s.SpanContext().TraceID()], s)
	}
	require.Len(t, byTrace, sessions, "one trace per session")
	for i, res := range results {
		spans := byTrace[res.traceID]
		require.Len(t, spans, 1+agents*3, "session %d: root + (agent, llm, tool) per agent", i)
		var roots, events int
		agentSpans := map[trace.SpanID]bool{}
		for _, s := range spans {
			a := attrs(s.Attributes())
			assert.Equal(t, res.id, a["session.id"], "session %d span %s", i, s.Name())
			switch a["crewtrace.span.kind"] {
			case "session":
				roots++
				assert.Equal(t, fmt.Sprintf("session task-%d", i), s.Name())
			case "agent":
				agentSpans[s.SpanContext().SpanID()] = true
				assert.Equal(t, res.agents[a["gen_ai.agent.id"].(string)], a["gen_ai.agent.name"])
				for _, ev := range s.Events() {
					assert.Equal(t, int64(i), attrs(ev.Attributes)["crewtrace.event.param.session"])
					events++
				}
			case "llm":
				assert.Equal(t, int64(i+1), a["gen_ai.usage.input_tokens"])
			}
		}
		assert.Equal(t, 1, roots, "session %d", i)
		assert.Equal(t, agents*eventsPerAgent, events, "session %d: every event kept", i)
	}
	m := e.metrics(t)
	assert.Equal(t, int64(sessions*agents*eventsPerAgent), m["crewtrace.events.recorded"]["crewtrace.event.kind=event"])
	assert.Equal(t, int64(0), total(m["crewtrace.sessions.active"], ""), "no session left active")
	assert.Equal(t, int64(sessions), total(m["crewtrace.sessions.started"], ""))
}

// TestEventsRaceEnd records events while the session ends: every event is
// either on the span or refused with ErrSessionEnded — none is lost.
func TestEventsRaceEnd(t *testing.T) {
	// Below the SDK's default limit of 128 events per span (beyond it the
	// SDK drops events and counts them in DroppedEvents).
	const writers, perWriter = 8, 12
	e := newEnv(t)
	ctx, sess := otelsession.Start(context.Background(), e.opts()...)
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range writers {
		wg.Go(func() {
			<-start
			for range perWriter {
				switch err := otelsession.RecordEvent(ctx, otelsession.Event{Type: "tick"}); {
				case err == nil:
					ok.Add(1)
				case assert.ErrorIs(t, err, otelsession.ErrSessionEnded):
					refused.Add(1)
				}
			}
		})
	}
	wg.Go(func() {
		<-start
		assert.NoError(t, sess.End(otelsession.Success, ""))
	})
	close(start)
	wg.Wait()
	require.Len(t, e.rec.Ended(), 1)
	assert.Equal(t, int64(writers*perWriter), ok.Load()+refused.Load())
	assert.Equal(t, int(ok.Load()), len(e.rec.Ended()[0].Events()), "every accepted event is on the span")
	assert.Zero(t, e.rec.Ended()[0].DroppedEvents())
	m := e.metrics(t)
	recorded, _ := m["crewtrace.events.recorded"]["crewtrace.event.kind=event"].(int64)
	assert.Equal(t, ok.Load(), recorded)
	if refused.Load() > 0 {
		assert.Equal(t, refused.Load(), m["crewtrace.events.rejected"]["error.type=session_ended"])
	}
}
