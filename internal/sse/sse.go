// Package sse is an incremental parser of server-sent events: it is fed the
// bytes of a response body as the application reads them and reports each
// complete event, so that instrumentation can observe a stream without
// buffering it or changing what the application reads. Its user is
// instrumentation/llmhttp, the adapters' core, in this module; the adapter
// modules reach it only through that public package (no module imports
// another module's internal/).
package sse

import "bytes"

// Parser splits a server-sent event stream into events. Feed it the stream's
// bytes in any pieces with Write; it calls OnEvent once per complete event
// with the event's name ("" when the stream gives none) and its data, the
// "data:" lines joined by newlines. The slices passed to OnEvent are only
// valid during the call. A Parser is not safe for concurrent use.
type Parser struct {
	// OnEvent receives each complete event.
	OnEvent func(event, data []byte)

	line    []byte // an incomplete line carried over between writes
	event   []byte
	data    []byte
	hasData bool
}

// Write feeds the next piece of the stream to the parser.
func (p *Parser) Write(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			return
		}
		line := b[:i]
		if len(p.line) > 0 {
			p.line = append(p.line, line...)
			line = p.line
		}
		p.handleLine(bytes.TrimSuffix(line, []byte{'\r'}))
		p.line = p.line[:0]
		b = b[i+1:]
	}
}

// Flush dispatches an event that the stream ended without terminating with
// a blank line, as a client does at the end of the stream.
func (p *Parser) Flush() {
	if len(p.line) > 0 {
		p.handleLine(bytes.TrimSuffix(p.line, []byte{'\r'}))
		p.line = p.line[:0]
	}
	p.dispatch()
}

func (p *Parser) handleLine(line []byte) {
	if len(line) == 0 {
		p.dispatch()
		return
	}
	if line[0] == ':' { // a comment
		return
	}
	field, value, _ := bytes.Cut(line, []byte{':'})
	value = bytes.TrimPrefix(value, []byte{' '})
	switch string(field) {
	case "event":
		p.event = append(p.event[:0], value...)
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	}
}

func (p *Parser) dispatch() {
	if p.hasData && p.OnEvent != nil {
		p.OnEvent(p.event, p.data)
	}
	p.event = p.event[:0]
	p.data = p.data[:0]
	p.hasData = false
}
