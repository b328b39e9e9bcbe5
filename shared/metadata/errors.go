package metadata

import (
	"errors"
	"fmt"
)

// ErrorKind says what went wrong with a partner's metadata, in words a report
// or a notice can show as they are.
type ErrorKind string

// Error kinds. The first eight are the list; the others name
// failures that need a different fix (naming the entity, fixing the config).
const (
	KindUnreachable ErrorKind = "unreachable"  // DNS, connect, timeout, reset
	KindTLS         ErrorKind = "tls"          // handshake or certificate failure
	KindHTTPStatus  ErrorKind = "http-status"  // a status other than 200/304
	KindTooLarge    ErrorKind = "too-large"    // body over the size cap
	KindNotXML      ErrorKind = "not-xml"      // not well-formed XML (or a DTD)
	KindNotMetadata ErrorKind = "not-metadata" // XML, but not SAML metadata
	KindSignature   ErrorKind = "signature"    // signature invalid, untrusted or refused
	KindExpired     ErrorKind = "expired"      // an enclosing validUntil has passed

	KindUnsigned        ErrorKind = "unsigned"         // a signature is required and there is none
	KindRedirect        ErrorKind = "redirect"         // too many redirects or a refused target
	KindEntityNotFound  ErrorKind = "entity-not-found" // no such entityID / no IdP entity
	KindAmbiguousEntity ErrorKind = "ambiguous-entity" // duplicate entityID or several IdPs
	KindConfig          ErrorKind = "config"           // the Source or TrustAnchor is unusable
	KindLimit           ErrorKind = "limit"            // a reading limit was exceeded (errors.As → *LimitError)
	KindCanceled        ErrorKind = "canceled"         // the context ended (errors.Is context.Canceled / DeadlineExceeded)
)

// Error is every failure this package returns. Use errors.As to get it and
// Kind to decide; Err (when set) is the underlying cause.
type Error struct {
	Kind ErrorKind
	// Detail is one human sentence fragment; it never contains key material
	// or document content beyond names and short identifiers.
	Detail string
	// URL is the address fetched, when the failure came from a fetch.
	URL string
	// Status is the HTTP status for KindHTTPStatus.
	Status int
	Err    error
}

func (e *Error) Error() string {
	msg := "metadata " + string(e.Kind)
	if e.URL != "" {
		msg += " (" + e.URL + ")"
	}
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is lets errors.Is(err, &Error{Kind: KindExpired}) match on the kind alone.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Detail == "" && t.Err == nil
}

// KindOf returns the kind of err, or "" when err is not an *Error.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return ""
}

func errorf(kind ErrorKind, format string, args ...any) *Error {
	return &Error{Kind: kind, Detail: fmt.Sprintf(format, args...)}
}

// ErrSHA1 is the cause (errors.Is) when a signature or digest uses SHA-1 and
// the trust anchor does not allow it.
var ErrSHA1 = errors.New("SHA-1 signature or digest refused (allowSha1 is off)")
