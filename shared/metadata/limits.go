package metadata

import "fmt"

// Limits bound what Read holds or repeats before a document's signature has
// been checked. Metadata is attacker-reachable input (a hijacked metadata
// host, a poisoned aggregate mirror): everything Read does is linear in the
// document, and the few things it must keep in memory are capped here. A
// document beyond a limit is refused with KindLimit and a *LimitError that
// names the limit. Zero fields take the defaults, which no published
// metadata document we know of comes near (see DefaultLimits).
type Limits struct {
	// MaxDepth is the deepest element nesting (libxml2's default, 256).
	MaxDepth int
	// MaxAttributes is the most attributes, namespace declarations
	// included, on one element.
	MaxAttributes int
	// MaxNamespaces is the most namespace declarations in scope at once.
	MaxNamespaces int
	// MaxTokenBytes is the largest single token: a start tag, a run of
	// text, a comment, a CDATA section or a processing instruction.
	MaxTokenBytes int
	// MaxSignatureBytes is the most bytes from the start of the root
	// element to the end of its ds:Signature: what must be held before
	// the digest can stream.
	MaxSignatureBytes int
	// MaxSignatureNodes is the most elements, text runs, comments and
	// processing instructions held in that stretch.
	MaxSignatureNodes int
}

// DefaultLimits are the limits Read applies when ReadOptions.Limits leaves a
// field zero. For scale: the largest start tag in the real corpus is under
// 1 KB, the largest text run (an inline logo) under 100 KB, the largest
// root signature 6 KB with 17 elements, nesting 9 deep, and at most a few
// dozen namespace declarations are in scope at once.
var DefaultLimits = Limits{
	MaxDepth:          256,
	MaxAttributes:     1024,
	MaxNamespaces:     4096,
	MaxTokenBytes:     4 << 20,
	MaxSignatureBytes: 256 << 10,
	MaxSignatureNodes: 1000,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	if l.MaxAttributes > 0 {
		d.MaxAttributes = l.MaxAttributes
	}
	if l.MaxNamespaces > 0 {
		d.MaxNamespaces = l.MaxNamespaces
	}
	if l.MaxTokenBytes > 0 {
		d.MaxTokenBytes = l.MaxTokenBytes
	}
	if l.MaxSignatureBytes > 0 {
		d.MaxSignatureBytes = l.MaxSignatureBytes
	}
	if l.MaxSignatureNodes > 0 {
		d.MaxSignatureNodes = l.MaxSignatureNodes
	}
	return d
}

// LimitError is the cause (errors.As) of a KindLimit error.
type LimitError struct {
	// Limit is the Limits field that was exceeded, e.g. "MaxDepth".
	Limit string
	// Max is its value.
	Max int
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("the document exceeds %s (%d)", e.Limit, e.Max)
}

func limitErr(name string, max int) *Error {
	return &Error{Kind: KindLimit, Err: &LimitError{Limit: name, Max: max}}
}
