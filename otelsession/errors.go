package otelsession

import "errors"

// Sentinel errors. Functions return them wrapped with detail where useful;
// match them with errors.Is.
var (
	// ErrNoSession is returned when the context holds no session.
	ErrNoSession = errors.New("otelsession: no session in context")
	// ErrSessionEnded is returned when the session has already ended.
	ErrSessionEnded = errors.New("otelsession: session already ended")
	// ErrInvalidEndState is returned by End for a state other than
	// Success, Fail or Indeterminate.
	ErrInvalidEndState = errors.New("otelsession: invalid end state")
	// ErrInvalidAgentID is returned by StartAgent when WithAgentID is given
	// something that is not a UUID.
	ErrInvalidAgentID = errors.New("otelsession: invalid agent ID")
	// ErrInvalidName is returned for an empty agent or tool name.
	ErrInvalidName = errors.New("otelsession: invalid name")
	// ErrInvalidEvent is returned for an event with an empty type, an
	// unknown kind or an unsupported parameter value.
	ErrInvalidEvent = errors.New("otelsession: invalid event")
	// ErrNoopTracerProvider is reported to otel.Handle (once per process,
	// never returned) when Start falls back to the global TracerProvider
	// and finds a no-op one: sessions would be exported nowhere.
	ErrNoopTracerProvider = errors.New("otelsession: the global TracerProvider is a no-op, sessions are exported nowhere: " +
		"set it (otelsetup.Setup does) or pass WithTracerProvider")
)
