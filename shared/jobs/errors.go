package jobs

import "errors"

// Decode and Validate errors. All are permanent: the same body will fail the
// same way on every delivery.
var (
	// ErrMalformed: the body is not a JSON object of the job shape (empty,
	// truncated, a JSON string or array, a field of the wrong type).
	ErrMalformed = errors.New("jobs: malformed job message")
	// ErrUnsupportedVersion: the version field is missing or not Version.
	ErrUnsupportedVersion = errors.New("jobs: unsupported job version")
	// ErrUnknownKind: a kind this build has no queue or handler for.
	ErrUnknownKind = errors.New("jobs: unknown job kind")
	// ErrInvalid: a well-formed job missing a required field.
	ErrInvalid = errors.New("jobs: invalid job")
)

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: the Functions handler parks the
// job and completes the message instead of letting Service Bus redeliver it.
// Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent, is one of the Decode errors, or says so itself through a
// Permanent() bool method (a Graph 400 from shared/tenant: the request is
// wrong, and redelivering it sends the same wrong request).
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	var p *permanentError
	var self interface{ Permanent() bool }
	return errors.As(err, &p) || (errors.As(err, &self) && self.Permanent()) ||
		errors.Is(err, ErrMalformed) || errors.Is(err, ErrUnsupportedVersion) ||
		errors.Is(err, ErrUnknownKind) || errors.Is(err, ErrInvalid)
}
