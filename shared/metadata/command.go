package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
)

// Exit codes of InspectCommand: the contract scripts rely on (README,
// package doc).
const (
	// ExitOK: the document was read, the entity found, no validUntil on
	// it, its groups or the role in use has passed and, with a trust
	// anchor, the root signature verified.
	ExitOK = 0
	// ExitFailed: the document was read and refused: not XML or not
	// metadata, a limit, the entity missing or ambiguous, a signature that
	// does not verify or is missing when required, or an expired
	// validUntil. Expiry refuses with or without a trust anchor. What
	// the document says is still printed, marked as refused.
	ExitFailed = 1
	// ExitUsage: bad arguments or an unusable trust anchor.
	ExitUsage = 2
	// ExitUnread: the document could not be obtained (file, network,
	// fetch limits) or reading was interrupted (SIGINT/SIGTERM).
	ExitUnread  = 3
	inspectName = "idpkeeper metadata inspect"
)

// inspectHTTPClient is the client URL fetches use; tests replace it.
var inspectHTTPClient *http.Client

// InspectReport is what `metadata inspect --format json` prints: one JSON
// object, field names stable.
//
//	source           the FILE or URL given
//	ok               true exactly when the command exits 0
//	error            {kind, message} when ok is false; kind is an ErrorKind
//	                 ("not-xml", "signature", "expired", "entity-not-found",
//	                 "limit", "unreachable", "canceled", …)
//	signatureStatus  "verified", "unsigned", "signed, not verified (no trust
//	                 anchor given)", or "NOT VERIFIED" (the error says why)
//	document         what was read. When ok is false it is what the
//	                 document says, shown so the refusal can be understood,
//	                 and not to be used: an unverified or expired document's
//	                 entity, certificates and endpoints; for a document that
//	                 is not metadata, only what was counted:
//	  sha256, size, root ("EntityDescriptor"|"EntitiesDescriptor"),
//	  entityCount, idpCount,
//	  entity         entityId, validUntil, cacheDuration,
//	                 saml / wsFed: signingCertificates [{subject, issuer,
//	                 sha1, sha256, notBefore, notAfter, base64}],
//	                 singleSignOnServices [{binding, location}] (saml),
//	                 passiveRequestorEndpoints [url] (wsFed), protocols;
//	                 problems [text]
//	  signature      signed, verified, signatureMethod, digestMethod,
//	                 referenceUri, keyInfoCertificates [certificate],
//	                 signer (certificate that verified)
type InspectReport struct {
	Source          string       `json:"source"`
	OK              bool         `json:"ok"`
	Error           *ReportError `json:"error,omitempty"`
	SignatureStatus string       `json:"signatureStatus,omitempty"`
	Document        *Document    `json:"document,omitempty"`
}

// ReportError is an error as a report shows it.
type ReportError struct {
	Kind    ErrorKind `json:"kind"`
	Message string    `json:"message"`
}

const inspectUsage = `usage: idpkeeper metadata inspect FILE|URL [flags]

Reads a SAML 2.0 / WS-Federation metadata document and prints the IdP entity
(the document's only one, or --entity in an aggregate), its signing
certificates, endpoints and the root signature status. A refused document is
still shown, marked REFUSED, with the reason.

Exit status: 0 the document parsed, the entity was found, no validUntil
(enclosing or on the role) has passed and, when a trust anchor is given, the
root signature verified against it; 1 the document was read and refused
(expiry refuses with or without a trust anchor); 2 bad arguments; 3 the
document could not be read (file, network) or reading was interrupted.
A pinned certificate's own validity dates are reported, not enforced.

flags:
`

// InspectCommand runs `metadata inspect`; args are what follows it. It
// returns the exit code: 0 ok, 1 failure, 2 usage.
func InspectCommand(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(inspectName, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		entityID  = fs.String("entity", "", "entityID of the entity to take from an aggregate")
		trustPEM  = fs.String("trust", "", "PEM file with the signer certificate(s) to pin")
		trustSHA  = fs.String("trust-sha256", "", "SHA-256 fingerprint(s) of the signer certificate, comma separated")
		allowSHA1 = fs.Bool("allow-sha1", false, "accept RSA-SHA1 / SHA-1 digests (old federations)")
		format    = fs.String("format", FormatText, "output format: text or json")
		at        = fs.String("at", "", "check validUntil at this RFC 3339 time instead of now (historic documents)")
		allowHTTP = fs.Bool("allow-http", false, "allow a plain http URL (for testing against local servers)")
		maxBytes  = fs.Int64("max-bytes", DefaultMaxBytes, "size limit of a fetched document")
		allowNets stringList
	)
	fs.Var(&allowNets, "allow-network", "a non-public network (CIDR or address) the URL fetch may reach; repeatable (default: public addresses only)")
	fs.Usage = func() {
		fmt.Fprint(stderr, inspectUsage)
		fs.PrintDefaults()
	}
	// flag stops at the first positional argument; parse again after it so
	// FILE may come before or after the flags.
	var positional []string
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			return ExitUsage // flag has printed the problem (or -help)
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: %s\n", inspectName, fmt.Sprintf(format, a...))
		return ExitUsage
	}
	if len(positional) != 1 {
		return usage("exactly one FILE or URL is required (got %d)", len(positional))
	}
	if *format != FormatText && *format != FormatJSON {
		return usage("--format must be text or json")
	}
	opts := ReadOptions{EntityID: *entityID, Now: time.Now()}
	if *at != "" {
		t, err := time.Parse(time.RFC3339, *at)
		if err != nil {
			return usage("--at: %v", err)
		}
		opts.Now = t
	}
	if *trustPEM != "" || *trustSHA != "" {
		trust := &TrustAnchor{AllowSHA1: *allowSHA1, RequireSignature: true}
		if *trustPEM != "" {
			data, err := os.ReadFile(*trustPEM)
			if err != nil {
				return usage("--trust: %v", err)
			}
			if trust.Certificates, err = ParseCertificatesPEM(data); err != nil {
				return usage("--trust %s: %v", *trustPEM, err)
			}
		}
		for _, fp := range strings.Split(*trustSHA, ",") {
			if fp = strings.TrimSpace(fp); fp == "" {
				continue
			}
			if _, err := NormalizeFingerprint(fp); err != nil {
				return usage("--trust-sha256: %v", err)
			}
			trust.SHA256 = append(trust.SHA256, fp)
		}
		opts.Trust = trust
	}

	source := positional[0]
	report := InspectReport{Source: source}
	allow, err := netguard.ParseAllow(allowNets)
	if err != nil {
		return usage("--allow-network: %v", err)
	}
	src := Source{URL: source, EntityID: *entityID, AllowHTTP: *allowHTTP, MaxBytes: *maxBytes, Network: netguard.Policy{Allow: allow}}
	// Read in a goroutine so that a signal ends the command even while
	// a read is blocked (a FIFO, a stalled disk); the read itself stops
	// at the context too.
	done := make(chan inspectResult, 1)
	go func() { done <- inspect(ctx, source, opts, src) }()
	var res inspectResult
	select {
	case res = <-done:
	case <-ctx.Done():
		res = inspectResult{err: &Error{Kind: KindCanceled, Detail: "interrupted", Err: ctx.Err()}}
	}
	doc, err := res.doc, res.err
	if KindOf(err) == KindConfig {
		return usage("%v", err)
	}
	report.Document = doc
	if err != nil {
		report.Error = &ReportError{Kind: KindOf(err), Message: err.Error()}
		if report.Error.Kind == "" {
			report.Error.Kind = KindUnreachable // a local file that cannot be opened
		}
	} else {
		report.OK = true
	}
	if doc != nil {
		switch {
		case doc.Signature.Verified:
			report.SignatureStatus = "verified"
		case doc.Signature.Signed && opts.Trust != nil:
			report.SignatureStatus = "NOT VERIFIED"
		case doc.Signature.Signed:
			report.SignatureStatus = "signed, not verified (no trust anchor given)"
		case doc.Root != "":
			report.SignatureStatus = "unsigned"
		}
	}
	if *format == FormatJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(report); err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", inspectName, err)
			return ExitFailed
		}
	} else if err := writeInspectText(stdout, report, opts.Now); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", inspectName, err)
		return ExitFailed
	}
	if !report.OK {
		fmt.Fprintf(stderr, "%s: %s\n", inspectName, report.Error.Message)
		return exitFor(report.Error.Kind)
	}
	return ExitOK
}

// stringList is a repeatable flag; commas separate values too.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// exitFor maps a failure to the exit contract: 3 when the document was
// never read, 1 when it was read and refused.
func exitFor(kind ErrorKind) int {
	switch kind {
	case KindUnreachable, KindTLS, KindHTTPStatus, KindTooLarge, KindRedirect, KindCanceled:
		return ExitUnread
	}
	return ExitFailed
}

type inspectResult struct {
	doc *Document
	err error
}

// inspect reads the document and, when it is refused for its signature or
// its validity, reads it once more without verifying and without
// enforcing validUntil, so the report can show what the refused document
// says (marked as refused: nothing of it is used).
func inspect(ctx context.Context, source string, opts ReadOptions, src Source) inspectResult {
	open, err := inspectSource(ctx, source, src)
	if err != nil {
		return inspectResult{err: err}
	}
	r, err := open()
	if err != nil {
		return inspectResult{err: err}
	}
	doc, err := read(ctx, r, opts)
	closeReader(r)
	switch KindOf(err) {
	case KindSignature, KindUnsigned, KindExpired:
	default:
		return inspectResult{doc, err}
	}
	survey := opts
	survey.Trust, survey.survey = nil, true
	r2, openErr := open()
	if openErr != nil {
		return inspectResult{doc, err}
	}
	shown, surveyErr := read(ctx, r2, survey)
	closeReader(r2)
	if surveyErr != nil || shown == nil {
		return inspectResult{doc, err}
	}
	shown.Signature = doc.Signature // as verified (or not) by the first read
	return inspectResult{shown, err}
}

func closeReader(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// inspectSource fetches a URL through the Fetcher (https only unless
// allowed, size-capped, at most 3 redirects) or opens a local file; open
// returns a fresh reader of the same bytes each time.
func inspectSource(ctx context.Context, source string, src Source) (func() (io.Reader, error), error) {
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		f := &Fetcher{Client: inspectHTTPClient}
		fetched, err := f.Fetch(ctx, src, Validators{})
		if err != nil {
			return nil, err
		}
		return func() (io.Reader, error) { return bytes.NewReader(fetched.Body), nil }, nil
	}
	return func() (io.Reader, error) {
		file, err := os.Open(source)
		if err != nil {
			return nil, err
		}
		return file, nil
	}, nil
}
