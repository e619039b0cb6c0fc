package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/store"
)

// A session of two traces (a chat of two turns) written to an embedded
// store, listed and read back.
func Example() {
	dir, _ := os.MkdirTemp("", "crewtrace-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "sessions.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()

	start := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	turn := func(trace string, at time.Duration, state string) record.Encoded {
		e, _ := record.Encode(&record.Record{
			SchemaVersion: record.SchemaVersion, SessionID: "chat-1", TraceID: trace, Name: "support-chat",
			StartTime: start.Add(at), EndTime: start.Add(at + 2*time.Second), DurationMs: 2000,
			EndState: state, Complete: true, SpanCount: 3, Tokens: record.Tokens{Input: 10, Output: 5, Total: 15},
		})
		return e
	}
	err = s.Write(ctx, []record.Encoded{turn("t1", 0, "Fail"), turn("t2", time.Minute, "Success")})
	fmt.Println("write:", err)

	page, _ := s.ListSessions(ctx, store.ListQuery{})
	for _, sum := range page.Sessions {
		fmt.Printf("%s %s: %d traces, %.0f ms, %s, %d tokens\n",
			sum.SessionID, sum.Name, sum.Traces, sum.DurationMs, sum.EndState, sum.Tokens.Total)
	}
	sess, _ := s.Session(ctx, "chat-1")
	for _, tr := range sess.Traces {
		fmt.Println(tr.TraceID, tr.Record.EndState)
	}
	// Output:
	// write: <nil>
	// chat-1 support-chat: 2 traces, 62000 ms, Success, 30 tokens
	// t1 Fail
	// t2 Success
}
