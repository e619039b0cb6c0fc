package assembler_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/assembler"
	"github.com/crewtrace/crewtrace/exporter/sessionexporter/internal/testgen"
	"github.com/crewtrace/crewtrace/record"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenRecords assembles testgen.Golden: the complete record, then the
// record of the same session without its root (incomplete).
func goldenRecords(t *testing.T) map[string]record.Record {
	t.Helper()
	now := time.Date(2026, 1, 2, 4, 0, 0, 0, time.UTC)
	cfg := assembler.Config{GracePeriod: time.Second, SessionTimeout: time.Minute, MaxSessions: 10, MaxSpans: 100, MaxRecordSpans: 100, TraceURLBase: "http://localhost:16686"}

	a := assembler.New(cfg)
	a.Add(testgen.Golden(), now)
	complete := a.Tick(now.Add(time.Second)).Records
	require.Len(t, complete, 1)

	b := assembler.New(cfg)
	for _, p := range testgen.Split(testgen.Golden())[1:] {
		b.Add(p, now)
	}
	incomplete := b.Tick(now.Add(time.Minute)).Records
	require.Len(t, incomplete, 1)
	return map[string]record.Record{"golden_complete.json": complete[0], "golden_incomplete.json": incomplete[0]}
}

// TestGolden pins the record the assembler builds from testgen.Golden, as
// JSON: a change of the schema shows here first.
func TestGolden(t *testing.T) {
	for name, r := range goldenRecords(t) {
		t.Run(name, func(t *testing.T) {
			enc, err := record.Encode(&r)
			require.NoError(t, err)
			assert.NotContains(t, string(enc.JSON), "\n", "a record is one JSONL line")
			assert.Equal(t, r.SessionID, enc.SessionID)
			assert.Equal(t, r.Revision, enc.Revision)

			var pretty bytes.Buffer
			require.NoError(t, json.Indent(&pretty, enc.JSON, "", "  "))
			pretty.WriteByte('\n')
			path := filepath.Join("testdata", name)
			if *update {
				require.NoError(t, os.WriteFile(path, pretty.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test -update to create the golden file")
			assert.Equal(t, string(want), pretty.String(),
				"record JSON changed: if intended, bump record.SchemaVersion when incompatible, add the old form to record/testdata, and run go test -update")

			got, err := enc.Decode()
			require.NoError(t, err)
			again, err := record.Encode(&got)
			require.NoError(t, err)
			assert.JSONEq(t, string(enc.JSON), string(again.JSON), "the record decodes to itself")
		})
	}
}
