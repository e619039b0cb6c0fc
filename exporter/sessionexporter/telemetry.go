package sessionexporter // import "github.com/crewtrace/crewtrace/exporter/sessionexporter"

import (
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/crewtrace/crewtrace/record"
	"github.com/crewtrace/crewtrace/semconv"
)

// Metric attributes take values from fixed sets only: a record's end state
// is whatever its client wrote (a 1 KB string is as valid as Success), so it
// is counted by class — Success, Fail, Indeterminate or other — and the
// record keeps the value as given.

// endStates are the end state classes, in the order of the tables below.
var endStates = [...]string{semconv.EndStateSuccess, semconv.EndStateFail, semconv.EndStateIndeterminate, "other"}

// flushReasons are the flush reasons the assembler writes, then "other".
var flushReasons = [...]string{record.FlushGracePeriod, record.FlushSessionTimeout, record.FlushLimit, record.FlushShutdown, "other"}

func endStateClass(s string) int {
	for i, v := range endStates[:len(endStates)-1] {
		if s == v {
			return i
		}
	}
	return len(endStates) - 1
}

func flushReasonClass(s string) int {
	for i, v := range flushReasons[:len(flushReasons)-1] {
		if s == v {
			return i
		}
	}
	return len(flushReasons) - 1
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// emissionAttrs are the attribute sets of the emission metrics, built once.
type emissionAttrs struct {
	sessions [len(endStates)][len(flushReasons)][2]metric.AddOption // sessions_emitted
	duration [len(endStates)]metric.RecordOption                    // session_duration
	partial  [len(flushReasons)]metric.AddOption                    // partial_flushes
}

func newEmissionAttrs() emissionAttrs {
	var a emissionAttrs
	for i, state := range endStates {
		a.duration[i] = metric.WithAttributeSet(attribute.NewSet(attribute.String("end_state", state)))
		for j, reason := range flushReasons {
			for c := range 2 {
				a.sessions[i][j][c] = metric.WithAttributeSet(attribute.NewSet(attribute.String("end_state", state),
					attribute.Bool("complete", c == 1), attribute.String("flush_reason", reason)))
			}
		}
	}
	for j, reason := range flushReasons {
		a.partial[j] = metric.WithAttributeSet(attribute.NewSet(attribute.String("flush_reason", reason)))
	}
	return a
}

// Logs name records by session ID, which a client chooses and which can be
// kilobytes long; a batch can hold thousands. A log line names how many and
// the first few, each cut.
const (
	logIDs     = 3  // session IDs named per log line
	logIDBytes = 64 // bytes kept of each
)

// shortID cuts a session ID for a log line, saying how long it was.
func shortID(id string) string {
	if len(id) <= logIDBytes {
		return id
	}
	n := logIDBytes
	for n > 0 && !utf8.RuneStart(id[n]) {
		n--
	}
	return id[:n] + "…(" + strconv.Itoa(len(id)) + " bytes)"
}

// idFields returns the log fields naming a set of records — their count and
// at most logIDs of their session IDs, cut — followed by more.
func idFields(ids []string, more ...zap.Field) []zap.Field {
	sample := make([]string, 0, min(len(ids), logIDs))
	for _, id := range ids[:min(len(ids), logIDs)] {
		sample = append(sample, shortID(id))
	}
	return append([]zap.Field{zap.Int("records", len(ids)), zap.Strings("session_ids", sample)}, more...)
}
