package otelsession

// ResetNoopWarning lets a test see the once-per-process
// ErrNoopTracerProvider report again.
func ResetNoopWarning() { warnedNoop.Store(false) }

// Thousands and Dollars expose the summary's number formats to tests.
var (
	Thousands = thousands
	Dollars   = dollars
)
