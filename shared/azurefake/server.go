// Package azurefake is an HTTPS server that speaks the parts of the Microsoft
// Graph v1.0 and Azure Key Vault REST wire formats IdP Keeper uses: JSON
// bodies, paging with @odata.nextLink (Graph) and nextLink (Key Vault),
// OData and Key Vault error bodies, bearer-token checks, the Key Vault
// authentication challenge, and 429 with Retry-After.
//
// The Graph side is a transcription of Graph's reference pages, not of what
// IdP Keeper expects: GraphRoutes lists each route it serves with its page,
// testdata/graph holds the pages' example answers, and TestFakeMatchesDocs
// checks every answer against them (properties, JSON types, @odata.type
// presence, status). A path it does not serve answers 400 "Resource not
// found for the segment"; an $expand a page does not document answers 400.
// ReplicationLag makes reads after a write stale for a while, as Entra's
// replicas can be.
//
// It exists so that tests and the example generator drive the real
// msgraph-sdk-go and azsecrets clients over real TLS instead of mocking them.
// The server answers for every host: Transport dials it whatever host a
// request names, so clients keep production URLs (graph.microsoft.com,
// <vault>.vault.azure.net) and their host checks.
package azurefake

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"time"
)

// Tenant is the state the fake serves. Graph objects are kept as JSON
// objects exactly as Graph returns them, so a fixture reads like Graph's docs.
type Tenant struct {
	TenantID                string           `json:"tenantId"`
	SocialIdentityProviders []map[string]any `json:"socialIdentityProviders"`
	// BuiltInIdentityProviders are listed by /identity/identityProviders
	// with the socials (builtInIdentityProvider: id, displayName,
	// identityProviderType).
	BuiltInIdentityProviders []map[string]any `json:"builtInIdentityProviders,omitempty"`
	Federations              []Federation     `json:"federations"`
	APIConnectors            []map[string]any `json:"apiConnectors"`
	UserFlows                []UserFlow       `json:"userFlows"`
	// EmailOTP is the email authentication method configuration; nil → 404.
	EmailOTP map[string]any `json:"emailOtp"`
	// CrossTenantDefault is crossTenantAccessPolicy/default; nil → 404.
	CrossTenantDefault map[string]any `json:"crossTenantDefault"`
	// Vaults by host name, e.g. "contoso-idp.vault.azure.net".
	Vaults map[string]*Vault `json:"vaults"`
	// Documents are served by URL for any other host: partners' metadata.
	Documents map[string]Document `json:"documents,omitempty"`
}

// Document is a file served at a URL, such as a partner's SAML metadata.
type Document struct {
	ContentType string `json:"contentType"`
	Body        string `json:"body"`
}

// Federation is a samlOrWsFedExternalDomainFederation (without @odata.type
// and domains) and its domains.
type Federation struct {
	Object  map[string]any `json:"object"`
	Domains []string       `json:"domains"`
}

// UserFlow is a b2xIdentityUserFlow with its navigation properties.
type UserFlow struct {
	Object map[string]any `json:"object"`
	// IdentityProviders as userFlowIdentityProviders lists them
	// (identityProviderBase objects with their @odata.type).
	IdentityProviders       []map[string]any `json:"identityProviders"`
	PostFederationSignup    string           `json:"postFederationSignup,omitempty"`
	PostAttributeCollection string           `json:"postAttributeCollection,omitempty"`
	// UserAttributeAssignments are identityUserFlowAttributeAssignment
	// objects as the list example shows them, each with its userAttribute
	// (served only when expanded).
	UserAttributeAssignments []map[string]any `json:"userAttributeAssignments,omitempty"`
}

// Vault is one Key Vault's secrets.
type Vault struct {
	Secrets []Secret `json:"secrets"`

	index   map[string]int // lower-case name → position (findSecret)
	indexed int            // len(Secrets) when index was built
	// list, listedN, listedVersions: listed's cache and what it was built from.
	list                    []int
	listedN, listedVersions int
}

// Secret is a Key Vault secret; the last version is the current one.
type Secret struct {
	Name     string          `json:"name"`
	Managed  bool            `json:"managed,omitempty"`
	Versions []SecretVersion `json:"versions"`
}

// SecretVersion is one version of a secret.
type SecretVersion struct {
	Version     string            `json:"version"`
	Value       string            `json:"value,omitempty"`
	Enabled     bool              `json:"enabled"`
	Created     time.Time         `json:"created"`
	Updated     time.Time         `json:"updated"`
	NotBefore   *time.Time        `json:"notBefore,omitempty"`
	Expires     *time.Time        `json:"expires,omitempty"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// LoadTenant reads a fixture file holding a Tenant as JSON.
func LoadTenant(path string) (*Tenant, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t Tenant
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &t, nil
}

// Request is one request the server received: an HTTP request, or one
// request of a $batch envelope (Inner).
type Request struct {
	Method string
	Host   string
	Path   string
	Query  string
	At     time.Time
	Status int
	// Family is the throttling bucket the request counted against
	// (FamilyIdentityProviders, …; "" for none).
	Family string
	// Batch numbers the $batch envelope the request came in (from 1), or
	// is 0; Inner is true for a request inside an envelope, false for the
	// envelope itself.
	Batch int
	Inner bool
	// RetryAfter is the Retry-After the answer carried ("" for none).
	RetryAfter string
}

// Fault makes the server answer requests whose path starts with PathPrefix
// with Status (and Retry-After when set), Times times (0 = always). With
// Body set it answers Status (200 when 0) with that body as JSON instead of
// an error: a malformed answer, a page whose nextLink loops.
type Fault struct {
	Method     string // empty matches any
	PathPrefix string
	PathSuffix string // empty matches any
	// Query, when set, must equal the request's raw query.
	Query      *string
	Status     int
	RetryAfter string
	Code       string
	Message    string
	Body       string
	Times      int
}

// Server is the running fake.
type Server struct {
	*httptest.Server
	// PageSize is how many items a collection page holds (default 2), small
	// so that paging is always exercised.
	PageSize int

	mu       sync.Mutex
	tenant   *Tenant
	faults   []*Fault
	requests []Request
	// valueReads counts requests that would return a secret value.
	valueReads int
	// writes are the accepted writes; credentials the write-only values set.
	writes      []Write
	credentials map[string]string
	// lag and stale simulate replication lag (ReplicationLag).
	lag   int
	stale map[string]*stale
	// batches counts $batch envelopes.
	batches int
	// cond is the simulated latency and throttling (SetConditions).
	cond conditions
}

// NewServer starts a fake serving t over TLS on a loopback port.
func NewServer(t *Tenant) *Server {
	s := &Server{tenant: t, PageSize: 2}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.Server.TLS = serverTLSConfig()
	// Clients that drop idle connections at Close make the server log
	// handshake noise that says nothing about the test.
	s.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.Server.StartTLS()
	return s
}

// AddFault injects a failure.
func (s *Server) AddFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &f)
}

// Requests returns a copy of every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SecretValueReads is how many requests asked Key Vault for a secret value.
func (s *Server) SecretValueReads() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.valueReads
}

// Tenant gives access to the served state under the server's lock.
func (s *Server) Tenant(fn func(*Tenant)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(s.tenant)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	// The latency is waited outside the server lock, so that requests in
	// flight overlap as they do against the real services.
	s.cond.wait(r.Context())
	if graphHosts[hostOnly(r.Host)] && r.URL.Path == graphPrefix+"/$batch" {
		s.serveBatch(w, r)
		return
	}
	s.cond.countHTTP(r.Host, false, 0)
	s.handle(w, r, 0)
}

func hostOnly(host string) string {
	if h, _, ok := strings.Cut(host, ":"); ok {
		return h
	}
	return host
}

// handle answers one request: an HTTP request (batch 0) or one request of
// $batch envelope number batch.
func (s *Server) handle(w http.ResponseWriter, r *http.Request, batch int) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	family := FamilyNone
	s.mu.Lock()
	defer func() {
		s.requests = append(s.requests, Request{Method: r.Method, Host: r.Host, Path: r.URL.Path, Query: r.URL.RawQuery, At: time.Now(), Status: rec.status,
			Family: family, Batch: batch, Inner: batch > 0, RetryAfter: rec.Header().Get("Retry-After")})
		s.mu.Unlock()
	}()
	host := hostOnly(r.Host)
	isVault := isVaultHost(host)
	if f := s.matchFault(r); f != nil {
		if f.RetryAfter != "" {
			rec.Header().Set("Retry-After", f.RetryAfter)
		}
		if f.Body != "" {
			status := f.Status
			if status == 0 {
				status = http.StatusOK
			}
			rec.Header().Set("Content-Type", "application/json")
			rec.WriteHeader(status)
			_, _ = io.WriteString(rec, f.Body)
			return
		}
		if isVault {
			writeVaultError(rec, f.Status, f.Code, f.Message)
		} else {
			writeODataError(rec, f.Status, f.Code, f.Message)
		}
		return
	}
	cost := 1.0
	switch {
	case isVault && strings.HasPrefix(r.Header.Get("Authorization"), "Bearer "):
		// The unauthenticated challenge is not a vault transaction.
		family = FamilyKeyVaultPrefix + host
	case graphHosts[host]:
		family = graphFamily(strings.TrimPrefix(r.URL.Path, graphPrefix))
		if family == FamilyIdentityAccess {
			cost = ResourceUnits(r.Method, r.URL.Query())
		}
	}
	if family != FamilyNone {
		if ok, retryAfter := s.cond.admit(family, cost); !ok {
			writeThrottled(rec, isVault, retryAfter)
			return
		}
	}
	if isVault {
		s.serveVault(rec, r, host)
		return
	}
	if !graphHosts[host] {
		s.serveDocument(rec, r, host)
		return
	}
	s.serveGraph(rec, r)
}

func (s *Server) matchFault(r *http.Request) *Fault {
	for _, f := range s.faults {
		if f.Times < 0 {
			continue
		}
		if f.Method != "" && f.Method != r.Method {
			continue
		}
		if !strings.HasPrefix(r.URL.Path, f.PathPrefix) || !strings.HasSuffix(r.URL.Path, f.PathSuffix) {
			continue
		}
		if f.Query != nil && *f.Query != r.URL.RawQuery {
			continue
		}
		if f.Times > 0 {
			f.Times--
			if f.Times == 0 {
				f.Times = -1 // used up
			}
		}
		return f
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// vaultSuffixes are the Key Vault DNS suffixes of the public, US Government
// and China clouds.
var vaultSuffixes = []string{".vault.azure.net", ".vault.usgovcloudapi.net", ".vault.azure.cn"}

func isVaultHost(host string) bool {
	for _, s := range vaultSuffixes {
		if strings.HasSuffix(host, s) {
			return true
		}
	}
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeODataError writes Graph's error body:
// {"error":{"code","message","innerError":{"date","request-id"}}}.
func writeODataError(w http.ResponseWriter, status int, code, message string) {
	if code == "" {
		code = http.StatusText(status)
	}
	if message == "" {
		message = http.StatusText(status)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code":    code,
		"message": message,
		"innerError": map[string]any{
			"date":       time.Now().UTC().Format(time.RFC3339),
			"request-id": "00000000-0000-0000-0000-000000000000",
		},
	}})
}

// writeVaultError writes Key Vault's error body: {"error":{"code","message"}}.
func writeVaultError(w http.ResponseWriter, status int, code, message string) {
	if code == "" {
		code = http.StatusText(status)
	}
	if message == "" {
		message = http.StatusText(status)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": message}})
}

// serveDocument answers GET https://HOST/PATH from Tenant.Documents, without
// authentication, as a partner's metadata endpoint does.
func (s *Server) serveDocument(w http.ResponseWriter, r *http.Request, host string) {
	doc, ok := s.tenant.Documents["https://"+host+r.URL.RequestURI()]
	if !ok || r.Method != http.MethodGet {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", doc.ContentType)
	_, _ = io.WriteString(w, doc.Body)
}
