package metadata

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
)

// Fetch limits used when a Source leaves them zero.
const (
	DefaultMaxBytes = 50 << 20
	DefaultTimeout  = 60 * time.Second
	// MaxRedirects is how many redirects a fetch follows.
	MaxRedirects = 3
)

// Source says where a partner's metadata comes from.
type Source struct {
	// URL of a metadata document (one entity or an aggregate).
	URL string `json:"url,omitempty"`
	// MDQBase is a Metadata Query (MDQ) base URL; with EntityID the
	// document is fetched from {MDQBase}/entities/{url-encoded EntityID}.
	MDQBase string `json:"mdqBase,omitempty"`
	// EntityID is the entity to take from the document; required with
	// MDQBase, needed with URL when it serves an aggregate.
	EntityID string `json:"entityId,omitempty"`
	// AllowHTTP permits plain http (only sensible with a required
	// signature). Redirects still never change the scheme.
	AllowHTTP bool `json:"allowHttp,omitempty"`
	// MaxBytes caps the response body; 0 means DefaultMaxBytes.
	MaxBytes int64 `json:"maxBytes,omitempty"`
	// Timeout bounds the whole fetch; 0 means DefaultTimeout.
	Timeout time.Duration `json:"timeout,omitempty"`
	// Network says which non-public networks the fetch may reach (config
	// dependencies[].metadata.allowNetworks); the zero value allows public
	// addresses only. See package netguard.
	Network netguard.Policy `json:"-"`
}

// RequestURL is the URL the source is fetched from.
func (s Source) RequestURL() (string, error) {
	raw := s.URL
	if s.MDQBase != "" {
		if s.URL != "" {
			return "", errorf(KindConfig, "set either a metadata URL or an MDQ base, not both")
		}
		if s.EntityID == "" {
			return "", errorf(KindConfig, "an MDQ source needs an entityID")
		}
		// MDQ percent-encodes the whole identifier, '/' and ':' included;
		// QueryEscape does that but writes a space as '+'.
		id := strings.ReplaceAll(url.QueryEscape(s.EntityID), "+", "%20")
		raw = strings.TrimRight(s.MDQBase, "/") + "/entities/" + id
	}
	if raw == "" {
		return "", errorf(KindConfig, "no metadata URL")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", errorf(KindConfig, "metadata URL %q does not parse", raw)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.AllowHTTP:
	default:
		return "", errorf(KindConfig, "metadata URL scheme %q not allowed (https only unless allowHttp)", u.Scheme)
	}
	return u.String(), nil
}

func (s Source) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return DefaultMaxBytes
}

func (s Source) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return DefaultTimeout
}

// Fetcher fetches metadata over HTTP(S) with the limits of a Source.
//
// Every fetch refuses a URL or redirect target that is a literal non-public
// address the Source's Network policy does not allow, and a redirect from
// https to http. With no Client, the fetch dials through netguard, so a name
// resolving to such an address is refused as well.
type Fetcher struct {
	// Client is the HTTP client; nil means a netguard client (the
	// address checked after DNS resolution) with the Source's policy. A
	// Client given here is trusted to dial where it should: a snapshot
	// replay, which does not dial, or a test transport. Its CheckRedirect is
	// replaced by the fetch's own redirect policy.
	Client *http.Client
	// Now is the clock for FetchedAt; nil means time.Now.
	Now func() time.Time
}

// Fetched is one fetch's result.
type Fetched struct {
	// URL is the final URL after redirects.
	URL string
	// NotModified is true when the server answered 304 to the conditional
	// GET; Body is then empty and the previous document is still current.
	NotModified  bool
	Body         []byte
	ETag         string
	LastModified string
	FetchedAt    time.Time
}

// Validators are the previous response's cache validators, for a
// conditional GET.
type Validators struct {
	ETag         string
	LastModified string
}

// Fetch GETs the source's document. With prev validators it sends
// If-None-Match / If-Modified-Since and reports a 304 as NotModified. The
// body is read through a limit, so an oversized answer is refused after
// MaxBytes+1 bytes, never read whole.
func (f *Fetcher) Fetch(ctx context.Context, src Source, prev Validators) (*Fetched, error) {
	target, err := src.RequestURL()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, src.timeout())
	defer cancel()

	if u, _ := url.Parse(target); u != nil {
		if err := src.Network.CheckURL(u); err != nil {
			return nil, &Error{Kind: KindUnreachable, URL: target, Detail: "refused before sending", Err: err}
		}
	}
	var client http.Client
	if f.Client != nil {
		client = *f.Client
	} else {
		transport := netguard.NewTransport(netguard.Options{Policy: src.Network})
		defer transport.CloseIdleConnections()
		client.Transport = transport
	}
	startScheme := strings.SplitN(target, ":", 2)[0]
	guard := src.Network.CheckRedirect(MaxRedirects)
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if err := checkRedirect(req.URL, len(via), startScheme); err != nil {
			return err
		}
		if err := guard(req, via); err != nil {
			return &Error{Kind: KindRedirect, Detail: "refused", Err: err}
		}
		return nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, &Error{Kind: KindConfig, URL: target, Err: err}
	}
	req.Header.Set("Accept", "application/samlmetadata+xml, application/xml;q=0.9, text/xml;q=0.8")
	if prev.ETag != "" {
		req.Header.Set("If-None-Match", prev.ETag)
	}
	if prev.LastModified != "" {
		req.Header.Set("If-Modified-Since", prev.LastModified)
	}
	resp, err := client.Do(req)
	if err != nil {
		var e *Error
		if errors.As(err, &e) { // the redirect policy's refusal
			e.URL = target
			return nil, e
		}
		return nil, classifyTransportError(target, err)
	}
	defer resp.Body.Close()

	now := time.Now
	if f.Now != nil {
		now = f.Now
	}
	out := &Fetched{
		URL:          resp.Request.URL.String(),
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		FetchedAt:    now().UTC(),
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		out.NotModified = true
		if out.ETag == "" {
			out.ETag = prev.ETag
		}
		if out.LastModified == "" {
			out.LastModified = prev.LastModified
		}
		return out, nil
	case resp.StatusCode != http.StatusOK:
		return nil, &Error{Kind: KindHTTPStatus, URL: target, Status: resp.StatusCode, Detail: resp.Status}
	}
	out.Body, err = readLimited(resp.Body, resp.ContentLength, src.maxBytes())
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.URL = target
			return nil, e
		}
		return nil, classifyTransportError(target, err)
	}
	return out, nil
}

// checkRedirect is the redirect policy: at most MaxRedirects hops, and
// every hop keeps the scheme the fetch started with (so https never drops to
// http, and an allowed http source never wanders).
func checkRedirect(next *url.URL, hops int, startScheme string) *Error {
	if hops > MaxRedirects {
		return errorf(KindRedirect, "more than %d redirects", MaxRedirects)
	}
	if next.Scheme != startScheme {
		return errorf(KindRedirect, "redirect to a %s URL refused (started on %s)", next.Scheme, startScheme)
	}
	return nil
}

// readLimited reads at most limit bytes and fails with KindTooLarge as soon
// as the body proves longer: the LimitReader stops one byte past the limit,
// so an endless body costs limit+1 bytes, not more.
func readLimited(r io.Reader, contentLength, limit int64) ([]byte, error) {
	if contentLength > limit {
		return nil, errorf(KindTooLarge, "Content-Length %d exceeds the %d byte limit", contentLength, limit)
	}
	body, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errorf(KindTooLarge, "body exceeds the %d byte limit", limit)
	}
	return body, nil
}

// classifyTransportError maps a client error to unreachable or tls.
func classifyTransportError(target string, err error) *Error {
	var (
		certInvalid  x509.CertificateInvalidError
		unknownAuth  x509.UnknownAuthorityError
		hostname     x509.HostnameError
		verification *tls.CertificateVerificationError
		recordHeader tls.RecordHeaderError
		alert        tls.AlertError
	)
	switch {
	case errors.As(err, &certInvalid), errors.As(err, &unknownAuth), errors.As(err, &hostname),
		errors.As(err, &verification), errors.As(err, &recordHeader), errors.As(err, &alert):
		return &Error{Kind: KindTLS, URL: target, Err: err}
	case strings.Contains(err.Error(), "tls: "):
		return &Error{Kind: KindTLS, URL: target, Err: err}
	}
	if blocked, ok := netguard.Blocked(err); ok {
		return &Error{Kind: KindUnreachable, URL: target, Detail: "refused when connecting", Err: blocked}
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &Error{Kind: KindUnreachable, URL: target, Detail: "timed out", Err: err}
	}
	return &Error{Kind: KindUnreachable, URL: target, Err: err}
}
