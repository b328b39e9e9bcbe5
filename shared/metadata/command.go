package metadata

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// Exit codes of InspectCommand.
const (
	ExitOK      = 0
	ExitFailed  = 1 // not metadata, entity not found, signature or validity failure, fetch failure
	ExitUsage   = 2 // bad arguments or unusable trust anchor
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
//	                 ("not-xml", "signature", "expired", "entity-not-found", …)
//	signatureStatus  "verified", "unsigned", or "signed, not verified (no trust anchor given)"
//	document         present when the document was read and passed:
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
certificates, endpoints and the root signature status. Exits 0 only when the
document parsed, the entity was found, no enclosing validUntil has passed and,
when a trust anchor is given, the root signature verified against it.
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
	)
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
	doc, err := inspectRead(ctx, source, opts, Source{URL: source, EntityID: *entityID, AllowHTTP: *allowHTTP, MaxBytes: *maxBytes})
	if KindOf(err) == KindConfig {
		return usage("%v", err)
	}
	if err != nil {
		report.Error = &ReportError{Kind: KindOf(err), Message: err.Error()}
		if report.Error.Kind == "" {
			report.Error.Kind = KindUnreachable // a local file that cannot be opened
		}
	} else {
		report.OK = true
		report.Document = doc
		switch {
		case doc.Signature.Verified:
			report.SignatureStatus = "verified"
		case doc.Signature.Signed:
			report.SignatureStatus = "signed, not verified (no trust anchor given)"
		default:
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
	} else if err := writeInspectText(stdout, report); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", inspectName, err)
		return ExitFailed
	}
	if !report.OK {
		fmt.Fprintf(stderr, "%s: %s\n", inspectName, report.Error.Message)
		return ExitFailed
	}
	return ExitOK
}

// inspectRead streams a local file, or fetches a URL through the Fetcher
// (https only unless allowed, size-capped, at most 3 redirects).
func inspectRead(ctx context.Context, source string, opts ReadOptions, src Source) (*Document, error) {
	if strings.HasPrefix(source, "https://") || strings.HasPrefix(source, "http://") {
		f := &Fetcher{Client: inspectHTTPClient}
		fetched, err := f.Fetch(ctx, src, Validators{})
		if err != nil {
			return nil, err
		}
		return ReadBytes(ctx, fetched.Body, opts)
	}
	file, err := os.Open(source)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	return Read(ctx, file, opts)
}
