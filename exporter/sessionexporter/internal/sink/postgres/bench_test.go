package postgres

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

var benchSeq atomic.Int64

// BenchmarkWrite measures records/s into PostgreSQL, each record a new
// session with two agents: one transaction per record (per_record, the
// baseline) against one transaction and one pgx batch per 100 records.
//
//	go test -run '^$' -bench BenchmarkWrite -benchmem ./internal/sink/postgres/
func BenchmarkWrite(b *testing.B) {
	for _, batch := range []int{1, 100} {
		name := fmt.Sprintf("batch_%d", batch)
		if batch == 1 {
			name = "per_record"
		}
		b.Run(name, func(b *testing.B) {
			db, _ := newDB(b)
			s := startSink(b, testConfig(db), nil)
			ctx := context.Background()
			recs := make([]record.Encoded, b.N)
			for i := range recs {
				recs[i] = enc(b, rec(fmt.Sprintf("bench-%d", benchSeq.Add(1)), 0, func(r *record.Record) {
					r.Agents = append(r.Agents, record.Agent{ID: "a-2", Name: "writer", LLMCalls: 1})
				}))[0]
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < len(recs); i += batch {
				if err := s.Write(ctx, recs[i:min(i+batch, len(recs))]); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
			require.Equal(b, int64(b.N), s.Written())
		})
	}
}
