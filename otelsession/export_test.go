package otelsession

// ResetNoopWarning lets a test see the once-per-process
// ErrNoopTracerProvider report again.
func ResetNoopWarning() { warnedNoop.Store(false) }
