package otelanthropic_test

// wantErrorType is the error.type otelsession records for an error of Go
// type goType whose ErrorType method returns errorType. otelsession records
// the Go type today; when it honours the ErrorType convention of the OTel
// semconv packages, the API's own error type is what users will see.
func wantErrorType(goType, errorType string) string {
	_ = errorType
	return goType
}
