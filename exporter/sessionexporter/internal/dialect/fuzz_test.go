package dialect

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crewtrace/crewtrace/semconv"
)

// FuzzRead builds a span from arbitrary bytes — attribute maps mixing every
// key the tables know, the prefixed session keys and arbitrary keys, with
// values of every type (including maps, slices, bytes, huge and invalid
// UTF-8 strings, Langfuse usage documents), any status and exception events
// — and checks that Read never panics, returns a known kind and source, and
// gives the same answer twice.
func FuzzRead(f *testing.F) {
	f.Add([]byte{}, "")
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7}, "chat")
	f.Add([]byte("\x05\x01\x40\x02\x03\x10\x11\x12"), `{"input":1e400,"output_x":-3}`)
	f.Add([]byte("\xff\xfe\x80\x81\x90\x91"), "traceloop.association.properties.session_id")
	f.Fuzz(func(t *testing.T, data []byte, str string) {
		s := fuzzSpan(data, str)
		a, b := Read(s), Read(s)
		if a.Kind > KindTool || a.Source >= numSources {
			t.Fatalf("kind %d source %d out of range", a.Kind, a.Source)
		}
		if s.Status().Code() == ptrace.StatusCodeError && !a.Failed {
			t.Fatalf("status Error read as not failed")
		}
		if a.Model() != b.Model() || a.Kind != b.Kind || a.SessionID != b.SessionID || a.Tokens != b.Tokens {
			t.Fatalf("Read is not deterministic: %+v vs %+v", a, b)
		}
	})
}

// fuzzKeys are the keys a fuzzed attribute takes: every table key, the
// prefixed session keys, near misses.
var fuzzKeys = func() []string {
	var ks []string
	for _, tb := range tables {
		for _, e := range tb.entries {
			ks = append(ks, string(e.key))
		}
	}
	for _, n := range semconv.SessionIDPropertyNames {
		ks = append(ks, semconv.TraceloopAssociationPrefix+n, semconv.VercelMetadataPrefix+n)
	}
	return append(ks, semconv.TraceloopAssociationPrefix, semconv.VercelMetadataPrefix, "a", "t", "", "session.id.x")
}()

func fuzzSpan(data []byte, str string) ptrace.Span {
	i := 0
	next := func() byte {
		if i >= len(data) {
			return 0
		}
		i++
		return data[i-1]
	}
	s := ptrace.NewSpan()
	s.SetName(str)
	attrs := s.Attributes()
	for n := int(next() % 24); n > 0; n-- {
		k := fuzzKeys[int(next())%len(fuzzKeys)]
		if next()&0x80 != 0 {
			k = str
		}
		switch next() % 9 {
		case 0:
			attrs.PutStr(k, str)
		case 1:
			attrs.PutInt(k, int64(next())<<(next()%64)-1)
		case 2:
			attrs.PutDouble(k, float64(int8(next()))*1e300)
		case 3:
			attrs.PutBool(k, next()&1 == 1)
		case 4:
			attrs.PutEmptyMap(k).PutStr(str, str)
		case 5:
			sl := attrs.PutEmptySlice(k)
			sl.AppendEmpty().SetStr(str)
			sl.AppendEmpty().SetInt(int64(next()))
		case 6:
			attrs.PutEmptyBytes(k).FromRaw(data)
		case 7:
			attrs.PutStr(k, `{"input":`+str+`,"output":2,"input_cache":`+str+`}`)
		case 8:
			attrs.PutStr(k, string(data))
		}
	}
	if next()&1 == 1 {
		s.Status().SetCode(ptrace.StatusCodeError)
		s.Status().SetMessage(str[:len(str)/2])
	}
	for n := int(next() % 3); n > 0; n-- {
		e := s.Events().AppendEmpty()
		e.SetName([]string{"exception", str}[next()%2])
		if next()&1 == 1 {
			e.Attributes().PutStr(string(semconv.ExceptionMessageKey), str)
		} else {
			e.Attributes().PutInt(string(semconv.ExceptionMessageKey), 1)
		}
	}
	return s
}
