package watch

import (
	"time"
)

// State is what one check says about an endpoint.
type State string

// States.
const (
	// Up: the endpoint answered as a working endpoint of its role answers.
	Up State = "up"
	// Down: it did not (no answer, a TLS failure, a server error, an
	// answer that sends guests somewhere they cannot go).
	Down State = "down"
	// Skipped: the watch did not check it (not https; see Class). It
	// counts neither way.
	Skipped State = "skipped"
)

// Classes name exactly what a check saw. Up: ClassOK, ClassRedirect,
// ClassAnswered and the API connector's well-formed outcomes. Down: the
// rest, except ClassNotHTTPS (skipped).
const (
	// ClassOK: a 2xx answer (for a metadata URL: one that is XML).
	ClassOK = "ok"
	// ClassRedirect: a redirect chain longer than the watch follows; the
	// endpoint answers and sends the browser on.
	ClassRedirect = "redirect"
	// ClassAnswered: a 4xx other than 404/410 — a sign-in or token
	// endpoint refusing a bare request without a sign-in message is
	// working.
	ClassAnswered = "answered"
	// ClassNotFound: 404 or 410, the endpoint is gone.
	ClassNotFound = "not-found"
	// ClassServerError: 5xx.
	ClassServerError = "server-error"
	// ClassNotXML: a metadata URL answering 2xx with something that is not
	// XML (an error or login page).
	ClassNotXML = "not-xml"
	// ClassDNS: the name does not resolve.
	ClassDNS = "dns"
	// ClassConnect: no TCP connection (refused, unreachable).
	ClassConnect = "connect"
	// ClassTimeout: no answer within the check's timeout.
	ClassTimeout = "timeout"
	// TLS failures: the chain is not trusted, a certificate has expired,
	// the certificate is not for the host, or the handshake failed.
	ClassTLSUntrusted = "tls-untrusted"
	ClassTLSExpired   = "tls-expired"
	ClassTLSHostname  = "tls-hostname"
	ClassTLSHandshake = "tls-handshake"
	// ClassRedirectToHTTP: a redirect from https to plain http.
	ClassRedirectToHTTP = "redirect-to-http"
	// ClassRedirectBlocked: a redirect to a non-public address the
	// dependency's allowNetworks does not list.
	ClassRedirectBlocked = "redirect-blocked"
	// ClassAddressBlocked: the endpoint's own name resolves to such an
	// address.
	ClassAddressBlocked = "address-blocked"
	// ClassNotHTTPS: not checked, the URL is not https (plain http is
	// checked on loopback only).
	ClassNotHTTPS = "not-https"
	// ClassAPIPrefix starts the classes of API connector checks:
	// "api-" and the contract probe's outcome (api-continue, api-malformed…).
	ClassAPIPrefix = "api-"
)

// Result is one check of one endpoint.
type Result struct {
	At    time.Time `json:"at"`
	State State     `json:"state"`
	Class string    `json:"class"`
	// HTTP is the status of the final answer (0 without one).
	HTTP int `json:"http,omitempty"`
	// LatencyMs is the time until the answer's headers (or until the
	// failure), in milliseconds.
	LatencyMs int64 `json:"latencyMs"`
	// DNSMs, ConnectMs and TLSMs are the first connection's phases.
	DNSMs     int64 `json:"dnsMs,omitempty"`
	ConnectMs int64 `json:"connectMs,omitempty"`
	TLSMs     int64 `json:"tlsMs,omitempty"`
	// RedirectHost is the host the last redirect pointed at, when there
	// was one (host only: a redirect URL carries sign-in state).
	RedirectHost string `json:"redirectHost,omitempty"`
	// TLS is the server's certificate as seen, also when it was refused.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Detail is one short sentence for people; never a URL's query or a
	// credential.
	Detail string `json:"detail,omitempty"`
	// From is where the check ran (config watch.observedFrom).
	From string `json:"from,omitempty"`
}

// TLSInfo is the server certificate an endpoint presented.
type TLSInfo struct {
	Subject  string    `json:"subject"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"notAfter"`
	// ChainNotAfter is the earliest expiry of the intermediates the server
	// sent, when it comes before the leaf's.
	ChainNotAfter *time.Time `json:"chainNotAfter,omitempty"`
	// SHA256 is the leaf's fingerprint (upper-case hex).
	SHA256 string `json:"sha256"`
	// Verified is true when the chain verified for the host name.
	Verified bool `json:"verified"`
}

// Expires is when the first certificate of the presented chain expires.
func (t TLSInfo) Expires() time.Time {
	if t.ChainNotAfter != nil && t.ChainNotAfter.Before(t.NotAfter) {
		return *t.ChainNotAfter
	}
	return t.NotAfter
}
