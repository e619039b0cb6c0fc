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
