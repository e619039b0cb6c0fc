package record_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/crewtrace/crewtrace/record"
)

// fixtures are records as earlier exporters wrote them (pretty-printed).
// They are never regenerated: every version this package ever wrote must
// still decode. The exporter's current output is golden-tested beside the
// assembler (exporter/sessionexporter/internal/assembler/testdata).
var fixtures = []string{"session_v1_complete.json", "session_v1_incomplete.json", "session_v2_complete_no_source.json"}

// v1Fixtures are the fixtures of version 1.
var v1Fixtures = fixtures[:2]

func readFixture(t *testing.T, name string) record.Encoded {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return record.Encoded{JSON: b}
}

func TestFixturesDecode(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			r, err := readFixture(t, name).Decode()
			require.NoError(t, err)
			assert.NotEmpty(t, r.SessionID)
			assert.NotEmpty(t, r.TraceID)
			assert.False(t, r.StartTime.IsZero())
		})
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	for _, name := range fixtures {
		t.Run(name, func(t *testing.T) {
			r, err := readFixture(t, name).Decode()
			require.NoError(t, err)
			enc, err := record.Encode(&r)
			require.NoError(t, err)
			assert.NotContains(t, string(enc.JSON), "\n", "a record is one JSONL line")
			assert.Equal(t, r.SessionID, enc.SessionID)
			assert.Equal(t, r.Revision, enc.Revision)
			got, err := enc.Decode()
			require.NoError(t, err)
			again, err := record.Encode(&got)
			require.NoError(t, err)
			assert.JSONEq(t, string(enc.JSON), string(again.JSON), "decode and encode reach a fixed point")
			assert.Equal(t, r.StartTime, got.StartTime)
		})
	}
}

// Version 1 records carry error_count beside counts.errors (the same
// number); version 2 dropped it. Decode keeps the version as written and
// gives counts.errors the errors a version 1 record counted.
func TestDecodeVersion1ErrorCount(t *testing.T) {
	for _, name := range v1Fixtures {
		t.Run(name, func(t *testing.T) {
			r, err := readFixture(t, name).Decode()
			require.NoError(t, err)
			assert.Equal(t, 1, r.SchemaVersion, "the version as written")
			assert.Equal(t, 1, r.Counts.Errors, "error_count and counts.errors, both 1 in the fixture")
		})
	}
	for name, tt := range map[string]struct {
		doc    string
		errors int
	}{
		"v1, error_count only":           {`{"schema_version":1,"error_count":3}`, 3},
		"v1, error_count with counts":    {`{"schema_version":1,"counts":{"errors":2},"error_count":2}`, 2},
		"v1, counts.errors wins":         {`{"schema_version":1,"counts":{"errors":2},"error_count":5}`, 2},
		"v2, error_count is not a field": {`{"schema_version":2,"error_count":5}`, 0},
		"v2":                             {`{"schema_version":2,"counts":{"errors":4}}`, 4},
	} {
		t.Run(name, func(t *testing.T) {
			r, err := record.Encoded{JSON: []byte(tt.doc)}.Decode()
			require.NoError(t, err)
			assert.Equal(t, tt.errors, r.Counts.Errors)
			enc, err := record.Encode(&r)
			require.NoError(t, err)
			assert.NotContains(t, string(enc.JSON), "error_count", "written records have no error_count")
		})
	}
}

func TestDecodeInvalid(t *testing.T) {
	for name, doc := range map[string]string{
		"not json":       `{"schema_version":`,
		"no version":     `{"session_id":"x"}`,
		"future version": `{"schema_version":3}`,
		"far version":    `{"schema_version":99}`,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := record.Encoded{JSON: []byte(doc)}.Decode()
			assert.ErrorIs(t, err, record.ErrInvalid)
		})
	}
}

func TestPartial(t *testing.T) {
	for reason, want := range map[string]bool{
		record.FlushGracePeriod: false, record.FlushSessionTimeout: false,
		record.FlushLimit: true, record.FlushShutdown: true,
	} {
		r := record.Record{FlushReason: reason}
		assert.Equal(t, want, r.Partial(), reason)
	}
}

// A version 2 record written before source, the cache and reasoning token
// counts, models and tools were added decodes with them empty.
func TestDecodeVersion2WithoutSources(t *testing.T) {
	r, err := readFixture(t, "session_v2_complete_no_source.json").Decode()
	require.NoError(t, err)
	assert.Equal(t, 2, r.SchemaVersion)
	assert.Equal(t, "", r.Source)
	assert.Nil(t, r.Models)
	assert.Nil(t, r.Tools)
	assert.Equal(t, record.Tokens{Input: 150, Output: 30, Total: 180}, r.Tokens)
	assert.Equal(t, int64(0), r.Agents[0].Tokens.CacheRead)
}
