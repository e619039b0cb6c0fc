package llmhttp

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
)

// APIError describes, on a span, a call that the API answered with an error:
// an HTTP error status, or an error event in a stream. The SDK still returns
// its own error to the application; APIError is what the Middleware records.
type APIError struct {
	// API is the API's name ("openai"), the prefix of the message.
	API string
	// StatusCode is the HTTP status, or 0 for an error sent inside a stream.
	StatusCode int
	// Type and Code are the API's error type and code, when it sent them.
	Type, Code string
	// Message is the API's error message.
	Message string
}

// Error implements error: "openai: 404 Not Found: <message>", "anthropic:
// error in stream: <message>".
func (e *APIError) Error() string {
	var msg string
	if e.API != "" {
		msg = e.API + ": "
	}
	if e.StatusCode != 0 {
		msg += strconv.Itoa(e.StatusCode)
		if t := http.StatusText(e.StatusCode); t != "" {
			msg += " " + t
		}
	} else {
		msg += "error in stream"
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	return msg
}

// ErrorType is the low-cardinality error.type of the call (otelsession
// records it): the API's error type (for example "invalid_request_error"),
// else its error code, else the HTTP status code.
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

// ErrorBody is the error object of an error response ({"error": {...}}) or
// of an error event in a stream, as the OpenAI and Anthropic APIs both spell
// it.
type ErrorBody struct {
	Type    string `json:"type"`
	Message string `json:"message"`
	// Code is a string, a number or null (OpenAI); Anthropic sends none.
	Code json.RawMessage `json:"code"`
}

// Err is the error e describes, from the API named api; status is the
// response's HTTP status, 0 for an error inside a stream.
func (e *ErrorBody) Err(api string, status int) *APIError {
	code := string(bytes.Trim(e.Code, `"`))
	if code == "null" {
		code = ""
	}
	return &APIError{API: api, StatusCode: status, Type: e.Type, Code: code, Message: e.Message}
}

// ErrStreamCut is recorded (wrapping the read error, after the API's name)
// on the span of a stream whose connection failed before the stream's end.
var ErrStreamCut = errors.New("stream cut before its end")

// streamCutError is a read error of a stream, recorded as [ErrStreamCut].
type streamCutError struct {
	api string
	err error
}

func (e *streamCutError) Error() string {
	return e.api + ": " + ErrStreamCut.Error() + ": " + e.err.Error()
}
func (e *streamCutError) Unwrap() []error   { return []error{ErrStreamCut, e.err} }
func (e *streamCutError) ErrorType() string { return "stream_cut" }
