package otelopenai

import (
	"errors"
	"strconv"
)

// APIError describes, on a span, a call that the API answered with an error:
// an HTTP error status, or an error in a stream. The SDK still returns its
// own error (*openai.Error) to the application; APIError is what the
// middleware records.
type APIError struct {
	// StatusCode is the HTTP status, or 0 for an error sent inside a stream.
	StatusCode int
	// Type and Code are the API's error type and code, when it sent them.
	Type, Code string
	// Message is the API's error message.
	Message string
}

// Error implements error.
func (e *APIError) Error() string {
	msg := "openai: "
	if e.StatusCode != 0 {
		msg += statusText(e.StatusCode)
	} else {
		msg += "error in stream"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// ErrorType is the low-cardinality error.type of the call: the API's error
// type (for example "invalid_request_error"), else its error code, else the
// HTTP status code.
func (e *APIError) ErrorType() string {
	switch {
	case e.Type != "":
		return e.Type
	case e.Code != "":
		return e.Code
	case e.StatusCode != 0:
		return strconv.Itoa(e.StatusCode)
	}
	return "stream_error"
}

// ErrStreamCut is recorded (wrapping the read error) on the span of a stream
// whose connection failed before the stream's end.
var ErrStreamCut = errors.New("openai: stream cut before its end")

// streamCutError is a read error of a stream, recorded as [ErrStreamCut].
type streamCutError struct{ err error }

func (e *streamCutError) Error() string     { return ErrStreamCut.Error() + ": " + e.err.Error() }
func (e *streamCutError) Unwrap() []error   { return []error{ErrStreamCut, e.err} }
func (e *streamCutError) ErrorType() string { return "stream_cut" }

// cutError records a stream's read error as [ErrStreamCut].
func cutError(err error) error { return &streamCutError{err} }
