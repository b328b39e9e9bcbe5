// Package probe checks that an API behind an Entra API connector keeps the
// connector contract: it POSTs a synthetic request in the API connector
// request format, with the connector's authentication, and classifies the
// answer the way a self-service sign-up user flow would experience it.
//
// Contract (MicrosoftDocs entra/external-id/self-service-sign-up-add-api-connector.md):
// the request is a JSON object of user attributes — email, identities
// [{signInType, issuer, issuerAssignedId}], displayName, givenName, surname,
// ui_locales — and the answer is one of
//
//	200 {"version":"1.0.0","action":"Continue", …attributes to overwrite}
//	200 {"version":"1.0.0","action":"ShowBlockPage","userMessage":"…"}
//	400 {"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"…"}
//
// The probe never sends real user data: every attribute is an obviously
// synthetic value under example.invalid.
package probe

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Step is the user flow step a connector serves.
type Step string

// Steps (the names of b2xIdentityUserFlow.apiConnectorConfiguration).
const (
	StepPostFederationSignup    Step = "postFederationSignup"
	StepPostAttributeCollection Step = "postAttributeCollection"
)

// DefaultTimeout is the time Entra waits for an API connector's answer:
// "Microsoft Entra ID waits for a maximum of 20 seconds to receive a
// response. If none is received, it makes one more attempt (retry) at
// calling your API." (MicrosoftDocs entra-docs,
// docs/external-id/self-service-sign-up-add-api-connector.md, "Best
// practices"). --timeout overrides it.
const DefaultTimeout = 20 * time.Second

// Outcome classifies an answer.
type Outcome string

// Outcomes, as `probe api` prints them.
const (
	Continue        Outcome = "continue"
	Block           Outcome = "block"
	ValidationError Outcome = "validation-error"
	Malformed       Outcome = "malformed"
	AuthFailed      Outcome = "auth-failed"
	TLSError        Outcome = "tls-error"
	Timeout         Outcome = "timeout"
	Unreachable     Outcome = "unreachable"
	// NoCredential: the scheduled probe ran without the connector's
	// credential (IdP Keeper is not allowed to read it, or could not). The
	// API's answer then says nothing about the credential Entra sends, so
	// it is never reported as auth-failed.
	NoCredential Outcome = "no-credential"
)

// Auth is the connector's authentication. Its values are secrets: String
// never shows them.
type Auth struct {
	BasicUser     string
	BasicPassword string
	ClientCert    *tls.Certificate
}

// String describes the authentication without its secrets.
func (a Auth) String() string {
	switch {
	case a.ClientCert != nil:
		return "client certificate"
	case a.BasicUser != "":
		return "basic (user " + a.BasicUser + ")"
	default:
		return "none"
	}
}

// GoString keeps %#v from printing the password.
func (a Auth) GoString() string { return "probe.Auth{" + a.String() + "}" }

// Request is one probe.
type Request struct {
	URL     string
	Step    Step
	Auth    Auth
	Timeout time.Duration
	// Client, when set, is used as is (tests: a transport trusting a test
	// CA); its TLS client certificate is replaced by Auth.ClientCert.
	Client *http.Client
}

// Result is what a probe found.
type Result struct {
	URL         string        `json:"url"`
	Step        Step          `json:"step"`
	Outcome     Outcome       `json:"outcome"`
	Status      int           `json:"status,omitempty"`
	Latency     time.Duration `json:"latencyNanoseconds"`
	LatencyText string        `json:"latency"`
	UserMessage string        `json:"userMessage,omitempty"`
	TLSNotAfter *time.Time    `json:"tlsNotAfter,omitempty"`
	TLSSubject  string        `json:"tlsSubject,omitempty"`
	Warnings    []string      `json:"warnings,omitempty"`
	Detail      string        `json:"detail,omitempty"`
}

// WellFormed is true for the three answers the contract allows.
func (r Result) WellFormed() bool {
	return r.Outcome == Continue || r.Outcome == Block || r.Outcome == ValidationError
}

// ErrPlainHTTP refuses an http:// URL that is not on this machine: sign-up
// data and credentials would cross the network in the clear.
var ErrPlainHTTP = errors.New("plain http is accepted only for loopback addresses")

// CheckURL accepts https URLs, and http URLs on loopback (with a warning).
func CheckURL(raw string) (warning string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute URL", raw)
	}
	switch u.Scheme {
	case "https":
		return "", nil
	case "http":
		if isLoopback(u.Hostname()) {
			return "plain http on a loopback address: for local testing only; Entra calls https endpoints", nil
		}
		return "", fmt.Errorf("%w (%s)", ErrPlainHTTP, u.Host)
	default:
		return "", fmt.Errorf("%q: scheme must be https", raw)
	}
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// syntheticBody is the request a user flow would send, with made-up values.
func syntheticBody(step Step) []byte {
	body := map[string]any{
		"email": "idpkeeper-probe@example.invalid",
		"identities": []map[string]string{{
			"signInType": "federated", "issuer": "idpkeeper-probe.example.invalid", "issuerAssignedId": "idpkeeper-probe-0001",
		}},
		"displayName": "IdP Keeper probe",
		"ui_locales":  "en-US",
	}
	if step == StepPostAttributeCollection {
		// Attributes are collected by then.
		body["givenName"] = "IdP Keeper"
		body["surname"] = "Probe"
	}
	b, _ := json.Marshal(body)
	return b
}

// Probe sends one synthetic request and classifies the answer. Whatever
// the endpoint sends back is stripped of the credential the probe sent
// (Auth.Redact) before it is returned, so neither a printed nor a stored
// result can carry an echoed Authorization header or password.
func Probe(ctx context.Context, req Request) Result {
	return req.Auth.redactResult(probe(ctx, req))
}

func probe(ctx context.Context, req Request) Result {
	if req.Step == "" {
		req.Step = StepPostFederationSignup
	}
	ex := send(ctx, req, syntheticBody(req.Step))
	res := ex.result
	if ex.err != nil || res.Outcome != "" {
		return res
	}
	// Excerpts of the body are cut to length: redact before cutting, or a
	// cut through an echoed credential would leave a piece of it.
	res.Outcome, res.UserMessage, res.Detail = classify(res.Status, ex.body, req.Auth.Redact)
	return res
}

// exchange is one request and what came back: the result so far (URL,
// step, latency, status, TLS; an Outcome only when the transport failed),
// the answer's body and content type.
type exchange struct {
	result      Result
	body        []byte
	contentType string
	err         error
}

// send POSTs body as a user flow would and reads the answer (1 MiB at
// most), within req.Timeout.
func send(ctx context.Context, req Request, body []byte) exchange {
	if req.Timeout <= 0 {
		req.Timeout = DefaultTimeout
	}
	ex := exchange{result: Result{URL: redactURL(req.URL), Step: req.Step}}
	res := &ex.result
	warning, err := CheckURL(req.URL)
	if err != nil {
		res.Outcome, res.Detail, ex.err = Unreachable, err.Error(), err
		return ex
	}
	if warning != "" {
		res.Warnings = append(res.Warnings, warning)
	}
	client := clientFor(req)
	ctx, cancel := context.WithTimeout(ctx, req.Timeout)
	defer cancel()
	httpReq, err := http.NewRequestWithContext(ctx, http.MethodPost, req.URL, bytes.NewReader(body))
	if err != nil {
		res.Outcome, res.Detail, ex.err = Unreachable, "cannot build the request", err
		return ex
	}
	httpReq.Header.Set("Content-Type", "application/json")
	httpReq.Header.Set("User-Agent", "idpkeeper-probe")
	if req.Auth.BasicUser != "" {
		httpReq.SetBasicAuth(req.Auth.BasicUser, req.Auth.BasicPassword)
	}
	start := time.Now()
	resp, err := client.Do(httpReq)
	res.Latency = time.Since(start)
	res.LatencyText = res.Latency.Round(time.Millisecond).String()
	if err != nil {
		res.Outcome, res.Detail = classifyError(ctx, err)
		ex.err = err
		return ex
	}
	defer resp.Body.Close()
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		leaf := resp.TLS.PeerCertificates[0]
		na := leaf.NotAfter.UTC()
		res.TLSNotAfter, res.TLSSubject = &na, leaf.Subject.String()
	}
	ex.body, err = io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	res.Latency = time.Since(start)
	res.LatencyText = res.Latency.Round(time.Millisecond).String()
	if err != nil {
		res.Outcome, res.Detail = classifyError(ctx, err)
		ex.err = err
		return ex
	}
	res.Status = resp.StatusCode
	ex.contentType = resp.Header.Get("Content-Type")
	return ex
}

func clientFor(req Request) *http.Client {
	base := req.Client
	if base == nil {
		base = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	c := *base
	// Entra does not follow redirects to another endpoint with the user's
	// data; neither does the probe.
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	if req.Auth.ClientCert != nil {
		t, ok := c.Transport.(*http.Transport)
		if !ok || t == nil {
			t = http.DefaultTransport.(*http.Transport).Clone()
		} else {
			t = t.Clone()
		}
		if t.TLSClientConfig == nil {
			t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		} else {
			t.TLSClientConfig = t.TLSClientConfig.Clone()
		}
		cert := req.Auth.ClientCert
		t.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
		c.Transport = t
	}
	return &c
}

// classifyError names a transport failure; the detail never carries the
// request (and so never its credentials).
func classifyError(ctx context.Context, err error) (Outcome, string) {
	var certErr *tls.CertificateVerificationError
	var recordErr tls.RecordHeaderError
	var alert tls.AlertError
	var netErr net.Error
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &netErr) && netErr.Timeout()):
		return Timeout, "no answer within the connector timeout"
	case errors.As(err, &certErr):
		return TLSError, "the server's certificate is not trusted: " + certErr.Err.Error()
	case errors.As(err, &recordErr), errors.As(err, &alert), strings.Contains(err.Error(), "tls:"), strings.Contains(err.Error(), "x509:"):
		return TLSError, "TLS handshake failed: " + lastPart(err.Error())
	default:
		return Unreachable, lastPart(err.Error())
	}
}

// lastPart drops the "Post \"URL\":" prefix net/http puts on errors, so a
// URL carrying a key (?code=…) is not echoed.
func lastPart(s string) string {
	if i := strings.LastIndex(s, "\": "); i >= 0 {
		return s[i+3:]
	}
	return s
}

// redactURL keeps scheme, host and path: Azure Functions URLs carry their key
// in the query.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// Classify reads an answer as a user flow would. It is pure, so the rules
// are table-tested without a server.
func Classify(status int, body []byte) (outcome Outcome, userMessage, detail string) {
	return classify(status, body, func(s string) string { return s })
}

// classify is Classify with redact applied to the body's text before any
// excerpt of it is cut.
func classify(status int, body []byte, redact func(string) string) (outcome Outcome, userMessage, detail string) {
	show := func(b []byte) string { return excerpt([]byte(redact(string(b)))) }
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return AuthFailed, "", fmt.Sprintf("HTTP %d: the API refused the connector's credentials", status)
	}
	var ans struct {
		Version     *string `json:"version"`
		Action      *string `json:"action"`
		UserMessage *string `json:"userMessage"`
		Status      any     `json:"status"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return Malformed, "", fmt.Sprintf("HTTP %d with a body that is not a JSON object: %s", status, show(body))
	}
	if ans.Version == nil || *ans.Version != "1.0.0" {
		return Malformed, "", fmt.Sprintf("HTTP %d: version must be \"1.0.0\"", status)
	}
	if ans.Action == nil {
		return Malformed, "", fmt.Sprintf("HTTP %d: no action", status)
	}
	msg := ""
	if ans.UserMessage != nil {
		msg = *ans.UserMessage
	}
	switch {
	case status == http.StatusOK && strings.EqualFold(*ans.Action, "Continue"):
		return Continue, "", ""
	case status == http.StatusOK && strings.EqualFold(*ans.Action, "ShowBlockPage"):
		if msg == "" {
			return Malformed, "", "ShowBlockPage without a userMessage"
		}
		return Block, msg, ""
	case status == http.StatusBadRequest && strings.EqualFold(*ans.Action, "ValidationError"):
		if msg == "" {
			return Malformed, "", "ValidationError without a userMessage"
		}
		return ValidationError, msg, ""
	case strings.EqualFold(*ans.Action, "ValidationError"):
		return Malformed, "", fmt.Sprintf("ValidationError must come with HTTP 400, not %d", status)
	default:
		return Malformed, "", fmt.Sprintf("HTTP %d with action %q", status, show([]byte(*ans.Action)))
	}
}

func excerpt(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// WithoutCredential reports a probe made without the connector's
// credential (IdP Keeper may not read it, or none backs the connector).
// What the network said (TLS, timeout, unreachable) still stands; what the
// API answered does not judge the credential, so it becomes no-credential —
// with a warning when the API let an unauthenticated call through.
func WithoutCredential(r Result, why string) Result {
	switch r.Outcome {
	case TLSError, Timeout, Unreachable:
		r.Warnings = append(r.Warnings, "probed without the credential: "+why)
		return r
	}
	if r.WellFormed() {
		r.Warnings = append(r.Warnings, "the API answered "+string(r.Outcome)+" to a call without credentials: it may not check them")
	}
	r.Outcome = NoCredential
	if r.Detail != "" {
		why += "; the API answered: " + r.Detail
	}
	r.Detail = why
	return r
}
