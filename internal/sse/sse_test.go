package sse

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

type event struct{ name, data string }

func parse(pieces ...string) []event {
	var got []event
	p := Parser{OnEvent: func(e, d []byte) { got = append(got, event{string(e), string(d)}) }}
	for _, s := range pieces {
		p.Write([]byte(s))
	}
	p.Flush()
	return got
}

func TestParser(t *testing.T) {
	tests := []struct {
		name   string
		pieces []string
		want   []event
	}{
		{"single", []string{"data: {\"a\":1}\n\n"}, []event{{"", `{"a":1}`}}},
		{"named", []string{"event: message_start\ndata: {}\n\n"}, []event{{"message_start", "{}"}}},
		{"split across writes", []string{"da", "ta: x", "yz\n", "\n", "data: [DONE]\n\n"}, []event{{"", "xyz"}, {"", "[DONE]"}}},
		{"crlf and comment", []string{": ping\r\n\r\ndata:no-space\r\n\r\n"}, []event{{"", "no-space"}}},
		{"multi-line data", []string{"data: a\ndata: b\n\n"}, []event{{"", "a\nb"}}},
		{"event name resets", []string{"event: e1\ndata: 1\n\ndata: 2\n\n"}, []event{{"e1", "1"}, {"", "2"}}},
		{"unterminated last event", []string{"data: 1\n\ndata: 2"}, []event{{"", "1"}, {"", "2"}}},
		{"no data", []string{"event: x\n\n"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parse(tt.pieces...))
		})
	}
}

// Events do not depend on how the stream is cut into writes: every split
// of the stream into two writes, and byte-by-byte writes, give the events of
// one write.
func TestParserSplitIndependent(t *testing.T) {
	stream := "event: message_start\r\ndata: {\"a\":1}\r\n\r\n: ping\n\ndata: x\ndata: y\n\nevent: e\ndata: z"
	want := parse(stream)
	assert.Equal(t, []event{{"message_start", `{"a":1}`}, {"", "x\ny"}, {"e", "z"}}, want)
	for i := range len(stream) + 1 {
		assert.Equal(t, want, parse(stream[:i], stream[i:]), "split at %d", i)
	}
	bytes := make([]string, len(stream))
	for i := range stream {
		bytes[i] = stream[i : i+1]
	}
	assert.Equal(t, want, parse(bytes...), "byte by byte")
}

// A parser without OnEvent parses and drops events; Flush on an empty
// parser reports nothing.
func TestParserNoCallback(t *testing.T) {
	var p Parser
	assert.NotPanics(t, func() {
		p.Write([]byte("data: 1\n\ndata: 2"))
		p.Flush()
	})
	assert.Empty(t, parse(), "no input, no events")
	assert.Empty(t, parse("", ""), "empty writes")
}

// FuzzParser checks that any split of any input gives the events of the
// whole input in one write.
func FuzzParser(f *testing.F) {
	f.Add("data: {\"a\":1}\n\n", 3)
	f.Add("event: x\r\ndata: a\r\ndata: b\r\n\r\n: c\n", 7)
	f.Add("data", 2)
	f.Fuzz(func(t *testing.T, s string, cut int) {
		if cut < 0 || cut > len(s) {
			cut = len(s) / 2
		}
		assert.Equal(t, parse(s), parse(s[:cut], s[cut:]))
	})
}
