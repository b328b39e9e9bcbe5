package watch

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/probe"
)

// DefaultTimeout bounds one check of an identity provider endpoint or a
// metadata URL (config watch.timeout).
const DefaultTimeout = 10 * time.Second

// DefaultMaxRedirects is how many redirects a check follows. Sign-in pages
// commonly redirect once or twice (to a login page, a home realm); a longer
// chain is reported as ClassRedirect, up.
const DefaultMaxRedirects = 5

// maxBody is how much of an answer a check reads: enough to tell XML from
// an HTML error page, not a whole metadata aggregate.
const maxBody = 64 << 10

// ConnectorCheck checks one API connector endpoint with the contract probe,
// using client (guarded by the endpoint's network policy, no redirects). The
// caller adds the connector's credential when it may read it.
type ConnectorCheck func(ctx context.Context, ep Endpoint, client *http.Client) probe.Result

// Prober checks endpoints over the network. Every connection it makes is
// dialled through netguard with the endpoint's policy: public addresses
// only, unless the dependency's allowNetworks lists the network, checked
// after DNS resolution and on every redirect; https only (plain http to
// loopback only); no proxy, no cookies, no credentials to identity
// provider endpoints. A check is bounded by Timeout, a round of checks by
// Concurrency.
type Prober struct {
	// Timeout bounds a check of an IdP endpoint or metadata URL (0:
	// DefaultTimeout). API connectors get Entra's own timeout
	// (probe.DefaultTimeout) unless APITimeout says otherwise.
	Timeout    time.Duration
	APITimeout time.Duration
	// MaxRedirects a check follows (0: DefaultMaxRedirects).
	MaxRedirects int
	// RootCAs replaces the system roots (tests); nil: the system's.
	RootCAs *x509.CertPool
	// Resolver resolves names (tests: one on loopback); nil: the system's.
	Resolver *net.Resolver
	// From says where the checks run; copied onto each result.
	From string
	// Now is the clock stamped on results (nil: time.Now).
	Now func() time.Time
	// Connector checks API connectors; nil: the contract probe without
	// the connector's credential (see ProbeWithoutCredential).
	Connector ConnectorCheck
}

func (p *Prober) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Prober) timeout() time.Duration {
	if p.Timeout > 0 {
		return p.Timeout
	}
	return DefaultTimeout
}

func (p *Prober) tlsConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: p.RootCAs}
}

// GuardedClient is the HTTP client a check of ep uses: netguard's transport
// with ep's policy, keep-alives off (each check measures its own DNS, TCP
// and TLS), no cookie jar, redirects checked by the policy and never from
// https to http.
func (p *Prober) GuardedClient(ep Endpoint, maxRedirects int) *http.Client {
	t := netguard.NewTransport(netguard.Options{Policy: ep.Network, TLSClientConfig: p.tlsConfig(), Resolver: p.Resolver})
	t.DisableKeepAlives = true
	t.MaxIdleConns = 0
	return &http.Client{Transport: t, CheckRedirect: ep.Network.CheckRedirect(maxRedirects)}
}

// Check checks one endpoint once. It never fails: what went wrong is the
// result's class. When ctx ends during the check (the round was stopped,
// not the endpoint slow), the check says nothing: a zero Result.
func (p *Prober) Check(ctx context.Context, ep Endpoint) Result {
	r := p.check(ctx, ep)
	if ctx.Err() != nil {
		return Result{}
	}
	if r.At.IsZero() {
		r.At = p.now()
	}
	r.From = p.From
	return r
}

func (p *Prober) check(ctx context.Context, ep Endpoint) Result {
	at := p.now()
	if !allowedScheme(ep.URL) {
		return Result{At: at, State: Skipped, Class: ClassNotHTTPS, Detail: "not checked: the watch checks https endpoints only (plain http on loopback)"}
	}
	if ep.Role == RoleAPI {
		return p.checkConnector(ctx, ep, at)
	}
	return p.checkHTTP(ctx, ep, at)
}

// phases records the first connection's timings and the certificate.
type phases struct {
	mu                            sync.Mutex
	dnsStart, connStart, tlsStart time.Time
	dnsDur, connDur, tlsDur       time.Duration
	dnsDone, connDone, tlsDone    bool
	certs                         []*x509.Certificate
	verified                      bool
	redirects                     int
	redirectHost                  string
}

func (ph *phases) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		DNSStart: func(httptrace.DNSStartInfo) {
			ph.mu.Lock()
			if !ph.dnsDone {
				ph.dnsStart = time.Now()
			}
			ph.mu.Unlock()
		},
		DNSDone: func(httptrace.DNSDoneInfo) {
			ph.mu.Lock()
			if !ph.dnsDone && !ph.dnsStart.IsZero() {
				ph.dnsDur, ph.dnsDone = time.Since(ph.dnsStart), true
			}
			ph.mu.Unlock()
		},
		ConnectStart: func(string, string) {
			ph.mu.Lock()
			if !ph.connDone {
				ph.connStart = time.Now()
			}
			ph.mu.Unlock()
		},
		ConnectDone: func(_, _ string, err error) {
			ph.mu.Lock()
			if !ph.connDone && err == nil && !ph.connStart.IsZero() {
				ph.connDur, ph.connDone = time.Since(ph.connStart), true
			}
			ph.mu.Unlock()
		},
		TLSHandshakeStart: func() {
			ph.mu.Lock()
			if !ph.tlsDone {
				ph.tlsStart = time.Now()
			}
			ph.mu.Unlock()
		},
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			ph.mu.Lock()
			if !ph.tlsDone && !ph.tlsStart.IsZero() {
				ph.tlsDur, ph.tlsDone = time.Since(ph.tlsStart), true
				if err == nil {
					ph.certs, ph.verified = st.PeerCertificates, len(st.VerifiedChains) > 0
				}
			}
			ph.mu.Unlock()
		},
	}
}

func (p *Prober) checkHTTP(ctx context.Context, ep Endpoint, at time.Time) Result {
	res := Result{At: at}
	ctx, cancel := context.WithTimeout(ctx, p.timeout())
	defer cancel()
	maxHops := p.MaxRedirects
	if maxHops <= 0 {
		maxHops = DefaultMaxRedirects
	}
	ph := &phases{}
	client := p.GuardedClient(ep, maxHops)
	policyRedirect := client.CheckRedirect
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		ph.mu.Lock()
		ph.redirects = len(via)
		ph.redirectHost = strings.ToLower(req.URL.Hostname())
		ph.mu.Unlock()
		if len(via) > maxHops {
			// Still answering, just sending the browser further than the
			// watch follows.
			return http.ErrUseLastResponse
		}
		return policyRedirect(req, via)
	}
	var body io.Reader
	method := ep.Method
	if method == "" {
		method = http.MethodGet
	}
	if method == http.MethodPost {
		// A token endpoint takes POST; an empty form carries no client
		// credentials and asks for nothing.
		body = strings.NewReader("")
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, ph.trace()), method, ep.URL, body)
	if err != nil {
		res.State, res.Class, res.Detail = Skipped, ClassNotHTTPS, "not checked: the URL does not parse"
		return res
	}
	req.Header.Set("User-Agent", "idpkeeper-watch")
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set("Accept", acceptFor(ep.Role))
	start := time.Now()
	resp, err := client.Do(req)
	res.LatencyMs = time.Since(start).Milliseconds()
	ph.fill(&res)
	if err != nil {
		res.TLS = tlsFromError(err, res.TLS)
		res.State = Down
		res.Class, res.Detail = classifyError(ctx, err, ph.redirectsSoFar())
		return res
	}
	defer resp.Body.Close()
	res.HTTP = resp.StatusCode
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 && res.TLS == nil {
		res.TLS = tlsInfo(resp.TLS.PeerCertificates, len(resp.TLS.VerifiedChains) > 0)
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	res.State, res.Class, res.Detail = classifyAnswer(ep.Role, resp.StatusCode, head)
	return res
}

func (ph *phases) redirectsSoFar() int {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	return ph.redirects
}

func (ph *phases) fill(r *Result) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	r.DNSMs, r.ConnectMs, r.TLSMs = ph.dnsDur.Milliseconds(), ph.connDur.Milliseconds(), ph.tlsDur.Milliseconds()
	if ph.redirects > 0 {
		r.RedirectHost = ph.redirectHost
	}
	if len(ph.certs) > 0 {
		r.TLS = tlsInfo(ph.certs, ph.verified)
	}
}

func acceptFor(r Role) string {
	switch r {
	case RoleMetadata:
		return "application/samlmetadata+xml, application/xml, text/xml, */*"
	case RoleToken:
		return "application/json, */*"
	}
	return "text/html, */*"
}

// classifyAnswer judges an HTTP answer for an endpoint of role. It is pure.
func classifyAnswer(role Role, status int, head []byte) (State, string, string) {
	switch {
	case status >= 500:
		return Down, ClassServerError, fmt.Sprintf("HTTP %d", status)
	case status == http.StatusNotFound || status == http.StatusGone:
		return Down, ClassNotFound, fmt.Sprintf("HTTP %d: the endpoint is gone", status)
	case status >= 400:
		if role == RoleMetadata {
			// Metadata is read without any request parameter: a refusal
			// means IdP Keeper cannot read it.
			return Down, ClassAnswered, fmt.Sprintf("HTTP %d: the metadata is not served", status)
		}
		return Up, ClassAnswered, fmt.Sprintf("HTTP %d to a request without a sign-in message, as expected", status)
	case status >= 300:
		return Up, ClassRedirect, fmt.Sprintf("HTTP %d: redirects further than the watch follows", status)
	case status >= 200:
		if role == RoleMetadata && !looksLikeXML(head) {
			return Down, ClassNotXML, fmt.Sprintf("HTTP %d, but the answer is not XML", status)
		}
		return Up, ClassOK, fmt.Sprintf("HTTP %d", status)
	}
	return Down, ClassServerError, fmt.Sprintf("HTTP %d", status)
}

func looksLikeXML(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '<' && !bytes.HasPrefix(bytes.ToLower(b), []byte("<!doctype html")) && !bytes.HasPrefix(bytes.ToLower(b), []byte("<html"))
}

// classifyError names a failure exactly. The detail never carries the URL
// (its query may hold a key) or anything sent.
func classifyError(ctx context.Context, err error, redirects int) (string, string) {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var certErr *tls.CertificateVerificationError
	var hostErr x509.HostnameError
	var invalid x509.CertificateInvalidError
	var unknown x509.UnknownAuthorityError
	var dnsErr *net.DNSError
	var netErr net.Error
	var opErr *net.OpError
	if be, ok := netguard.Blocked(err); ok {
		if be.Redirect || redirects > 0 {
			return ClassRedirectBlocked, "redirected to " + be.Addr.String() + ", " + be.Range + ": not followed (allowNetworks does not list it)"
		}
		return ClassAddressBlocked, "resolves to " + be.Addr.String() + ", " + be.Range + ": not dialled (allowNetworks does not list it)"
	}
	switch {
	case errors.Is(err, netguard.ErrDowngrade):
		return ClassRedirectToHTTP, "redirects from https to plain http: not followed"
	case errors.As(err, &hostErr):
		return ClassTLSHostname, "the TLS certificate is not valid for this host name"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return ClassTLSExpired, "the TLS certificate has expired (or is not yet valid)"
	case errors.As(err, &unknown), errors.As(err, &certErr), errors.As(err, &invalid):
		return ClassTLSUntrusted, "the TLS certificate chain is not trusted"
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return ClassTimeout, "no answer within the check's timeout"
	case errors.As(err, &dnsErr):
		if dnsErr.IsNotFound {
			return ClassDNS, "the name does not resolve (NXDOMAIN)"
		}
		return ClassDNS, "the name could not be resolved"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return ClassConnect, "no TCP connection: " + shortNetError(opErr.Err)
	case strings.Contains(err.Error(), "tls:") || errors.As(err, new(tls.RecordHeaderError)) || errors.As(err, new(tls.AlertError)):
		return ClassTLSHandshake, "the TLS handshake failed"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return ClassConnect, "the connection closed without an answer"
	}
	return ClassConnect, "no answer: " + shortNetError(err)
}

func shortNetError(err error) string {
	if err == nil {
		return "unknown"
	}
	var sys *net.OpError
	if errors.As(err, &sys) && sys.Err != nil {
		err = sys.Err
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// tlsFromError takes the refused certificate from a verification failure,
// so an expired or wrong-host certificate still shows its dates.
func tlsFromError(err error, have *TLSInfo) *TLSInfo {
	if have != nil {
		return have
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) && len(certErr.UnverifiedCertificates) > 0 {
		return tlsInfo(certErr.UnverifiedCertificates, false)
	}
	var invalid x509.CertificateInvalidError
	if errors.As(err, &invalid) && invalid.Cert != nil {
		return tlsInfo([]*x509.Certificate{invalid.Cert}, false)
	}
	var hostErr x509.HostnameError
	if errors.As(err, &hostErr) && hostErr.Certificate != nil {
		return tlsInfo([]*x509.Certificate{hostErr.Certificate}, false)
	}
	return nil
}

func tlsInfo(chain []*x509.Certificate, verified bool) *TLSInfo {
	if len(chain) == 0 {
		return nil
	}
	leaf := chain[0]
	sum := sha256.Sum256(leaf.Raw)
	info := &TLSInfo{
		Subject: subjectName(leaf), Issuer: leaf.Issuer.CommonName,
		NotAfter: leaf.NotAfter.UTC(), SHA256: strings.ToUpper(hex.EncodeToString(sum[:])), Verified: verified,
	}
	for _, c := range chain[1:] {
		if c.NotAfter.Before(info.NotAfter) && (info.ChainNotAfter == nil || c.NotAfter.Before(*info.ChainNotAfter)) {
			t := c.NotAfter.UTC()
			info.ChainNotAfter = &t
		}
	}
	return info
}

func subjectName(c *x509.Certificate) string {
	if c.Subject.CommonName != "" {
		return c.Subject.CommonName
	}
	if len(c.DNSNames) > 0 {
		return c.DNSNames[0]
	}
	return c.Subject.String()
}

// checkConnector runs the API connector contract probe through a guarded
// client: the guard's check runs before the connection, so a connector
// target that resolves to an inside address never receives the request,
// let alone the connector's credential.
func (p *Prober) checkConnector(ctx context.Context, ep Endpoint, at time.Time) Result {
	client := p.GuardedClient(ep, -1)
	check := p.Connector
	if check == nil {
		check = ProbeWithoutCredential
	}
	timeout := p.APITimeout
	if timeout <= 0 {
		timeout = probe.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout+time.Second)
	defer cancel()
	pr := check(ctx, ep, client)
	return FromProbe(pr, at)
}

// ProbeWithoutCredential is the default ConnectorCheck: the contract probe
// with no credential. A connector that expects one reports no-credential
// (see probe.WithoutCredential), never auth-failed.
func ProbeWithoutCredential(ctx context.Context, ep Endpoint, client *http.Client) probe.Result {
	r := probe.Probe(ctx, probe.Request{URL: ep.URL, Step: ep.Step, Client: client})
	if ep.Connector != nil && ep.Connector.AuthType != "" && ep.Connector.AuthType != "unknown" {
		r = probe.WithoutCredential(r, "the watch reads no connector credential")
	}
	return r
}

// FromProbe turns a contract probe result into a watch result: the
// contract's three answers and no-credential (the API answered; the
// credential was not tested) are up, everything else down.
func FromProbe(pr probe.Result, at time.Time) Result {
	r := Result{At: at, HTTP: pr.Status, LatencyMs: pr.Latency.Milliseconds(), Detail: pr.Detail}
	switch pr.Outcome {
	case probe.Continue, probe.Block, probe.ValidationError, probe.NoCredential:
		r.State = Up
	default:
		r.State = Down
	}
	r.Class = ClassAPIPrefix + string(pr.Outcome)
	switch {
	case pr.Outcome == probe.Timeout:
		r.Class = ClassTimeout
	case pr.Outcome == probe.Unreachable && strings.Contains(pr.Detail, "not a public address"):
		r.Class = ClassAddressBlocked
	}
	if r.Detail == "" {
		r.Detail = "the API answered " + string(pr.Outcome)
	}
	if pr.TLSNotAfter != nil {
		r.TLS = &TLSInfo{Subject: pr.TLSSubject, NotAfter: pr.TLSNotAfter.UTC(), Verified: true}
	}
	return r
}

// CheckAll checks every endpoint, at most concurrency at once (0: 16), and
// returns the results in the order of eps. When ctx ends, the endpoints not
// started yet get no result (a zero Result with State "").
func (p *Prober) CheckAll(ctx context.Context, eps []Endpoint, concurrency int) []Result {
	if concurrency <= 0 {
		concurrency = 16
	}
	out := make([]Result, len(eps))
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i := range eps {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return out
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = p.Check(ctx, eps[i])
		}(i)
	}
	wg.Wait()
	return out
}
