package otelanthropic

import (
	"errors"
	"net/http"
	"strconv"
)

// APIError describes, on a span, a call that the API answered with an error:
// an HTTP error status, or an error event in a stream. The SDK still returns
// its own error (*anthropic.Error) to the application; APIError is what the
// middleware records.
type APIError struct {
	// StatusCode is the HTTP status, or 0 for an error event in a stream.
	StatusCode int
	// Type is the API's error type (for example "overloaded_error").
	Type string
	// Message is the API's error message.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	msg := "anthropic: "
	if e.StatusCode != 0 {
		msg += strconv.Itoa(e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			msg += " " + t
		}
	} else {
		msg += "error event in stream"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// ErrorType is the low-cardinality error.type of the call: the API's error
// type, else the HTTP status code.
func (e *APIError) ErrorType() string {
	switch {
	case e.Type != "":
		return e.Type
	case e.StatusCode != 0:
		return strconv.Itoa(e.StatusCode)
	}
	return "stream_error"
}

// ErrStreamCut is recorded (wrapping the read error) on the span of a stream
// whose connection failed before the stream's end.
var ErrStreamCut = errors.New("anthropic: stream cut before its end")

// streamCutError is a read error of a stream, recorded as [ErrStreamCut].
type streamCutError struct{ err error }

func (e *streamCutError) Error() string     { return ErrStreamCut.Error() + ": " + e.err.Error() }
func (e *streamCutError) Unwrap() []error   { return []error{ErrStreamCut, e.err} }
func (e *streamCutError) ErrorType() string { return "stream_cut" }

// cutError records a stream's read error as [ErrStreamCut].
func cutError(err error) error { return &streamCutError{err} }
