package watch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// partner is a partner's sign-in host on loopback, with one route per
// behaviour the prober must tell apart. It fails the test when a request
// carries credentials or cookies: the watch sends none to IdP endpoints.
type partner struct {
	t        *testing.T
	port     string
	hits     atomic.Int32
	inflight atomic.Int32
	maxSeen  atomic.Int32
}

func newPartner(t *testing.T, p *pki) *partner {
	pt := &partner{t: t}
	cert := p.issue(t, []string{"sts.partner.test", "login.partner.test", "metadata.partner.test"}, time.Now().Add(-time.Hour), time.Now().Add(40*24*time.Hour))
	srv := tlsServer(t, cert, http.HandlerFunc(pt.serve))
	pt.port = portOf(t, srv)
	return pt
}

func (pt *partner) url(host, path string) string {
	return "https://" + host + ":" + pt.port + path
}

func (pt *partner) serve(w http.ResponseWriter, r *http.Request) {
	pt.hits.Add(1)
	n := pt.inflight.Add(1)
	defer pt.inflight.Add(-1)
	for {
		m := pt.maxSeen.Load()
		if n <= m || pt.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	if r.Header.Get("Authorization") != "" || r.Header.Get("Cookie") != "" {
		pt.t.Errorf("%s %s carried credentials or cookies", r.Method, r.URL.Path)
	}
	switch r.URL.Path {
	case "/ok", "/login":
		io.WriteString(w, "<html><body>Sign in</body></html>")
	case "/adfs/ls/":
		http.Redirect(w, r, pt.url("login.partner.test", "/login"), http.StatusFound)
	case "/down":
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	case "/gone":
		http.NotFound(w, r)
	case "/bare":
		http.Error(w, "MSIS7042: no sign-in request", http.StatusBadRequest)
	case "/metadata.xml":
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		io.WriteString(w, `<?xml version="1.0"?><EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`)
	case "/metadata-html":
		io.WriteString(w, "<!DOCTYPE html><html>Please sign in</html>")
	case "/slow":
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	case "/sluggish":
		time.Sleep(150 * time.Millisecond)
		io.WriteString(w, "<html>late</html>")
	case "/to-http":
		http.Redirect(w, r, "http://sts.partner.test:"+pt.port+"/ok", http.StatusFound)
	case "/to-private":
		http.Redirect(w, r, "https://10.20.0.5/adfs/ls/", http.StatusFound)
	case "/to-inside-name":
		http.Redirect(w, r, "https://inside.partner.test:"+pt.port+"/ok", http.StatusFound)
	case "/to-imds":
		http.Redirect(w, r, "https://imds.partner.test/metadata/identity/oauth2/token", http.StatusFound)
	case "/loop":
		http.Redirect(w, r, "/loop", http.StatusFound)
	case "/token":
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || len(body) != 0 {
			pt.t.Errorf("token endpoint: %s with %d body bytes, want POST with an empty form", r.Method, len(body))
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, `{"error":"unsupported_grant_type"}`)
	default:
		http.NotFound(w, r)
	}
}

func prober(p *pki, t *testing.T) *watch.Prober {
	return &watch.Prober{Timeout: 400 * time.Millisecond, RootCAs: p.pool, Resolver: resolver(t), From: "test"}
}

// Every outcome a check can have, against real TLS servers on loopback,
// classified exactly.
func TestProberClassifies(t *testing.T) {
	ca := newPKI(t)
	pt := newPartner(t, ca)
	lo := loopbackOnly()

	expired := tlsServer(t, ca.issue(t, []string{"sts.partner.test"}, time.Now().Add(-90*24*time.Hour), time.Now().Add(-24*time.Hour)), http.HandlerFunc(pt.serve))
	wrongHost := tlsServer(t, ca.issue(t, []string{"someone-else.test"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)), http.HandlerFunc(pt.serve))
	other := newPKI(t)
	untrusted := tlsServer(t, other.issue(t, []string{"sts.partner.test"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)), http.HandlerFunc(pt.serve))
	// A port that speaks no TLS at all.
	garbage, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "SSH-2.0-not-tls\r\n\r\n")
			c.Close()
		}
	}()
	// A port nothing listens on.
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedPort := strings.TrimPrefix(closed.Addr().String(), "127.0.0.1:")
	closed.Close()

	for _, tc := range []struct {
		name  string
		ep    watch.Endpoint
		state watch.State
		class string
		http  int
		check func(*testing.T, watch.Result)
	}{
		{"sign-in page", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/ok"), lo), watch.Up, watch.ClassOK, 200, func(t *testing.T, r watch.Result) {
			if r.TLS == nil || !r.TLS.Verified || r.TLS.Subject != "sts.partner.test" || r.TLS.NotAfter.Before(time.Now().Add(39*24*time.Hour)) {
				t.Errorf("tls = %+v", r.TLS)
			}
			if r.From != "test" || r.At.IsZero() {
				t.Errorf("from %q at %v", r.From, r.At)
			}
		}},
		{"redirect to the login page", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/adfs/ls/"), lo), watch.Up, watch.ClassOK, 200, func(t *testing.T, r watch.Result) {
			if r.RedirectHost != "login.partner.test" {
				t.Errorf("redirect host %q", r.RedirectHost)
			}
		}},
		{"bare request refused", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/bare"), lo), watch.Up, watch.ClassAnswered, 400, nil},
		{"metadata refuses", endpoint(watch.RoleMetadata, pt.url("metadata.partner.test", "/bare"), lo), watch.Down, watch.ClassAnswered, 400, nil},
		{"metadata document", endpoint(watch.RoleMetadata, pt.url("metadata.partner.test", "/metadata.xml"), lo), watch.Up, watch.ClassOK, 200, nil},
		{"metadata URL serves a page", endpoint(watch.RoleMetadata, pt.url("metadata.partner.test", "/metadata-html"), lo), watch.Down, watch.ClassNotXML, 200, nil},
		{"server error", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/down"), lo), watch.Down, watch.ClassServerError, 503, nil},
		{"gone", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/gone"), lo), watch.Down, watch.ClassNotFound, 404, nil},
		{"token endpoint", endpoint(watch.RoleToken, pt.url("sts.partner.test", "/token"), lo), watch.Up, watch.ClassAnswered, 400, nil},
		{"slow", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/slow"), lo), watch.Down, watch.ClassTimeout, 0, nil},
		{"expired certificate", endpoint(watch.RoleSignIn, "https://sts.partner.test:"+portOf(t, expired)+"/ok", lo), watch.Down, watch.ClassTLSExpired, 0, func(t *testing.T, r watch.Result) {
			if r.TLS == nil || r.TLS.Verified || !r.TLS.NotAfter.Before(time.Now()) {
				t.Errorf("the refused certificate is not shown with its date: %+v", r.TLS)
			}
		}},
		{"certificate for another host", endpoint(watch.RoleSignIn, "https://sts.partner.test:"+portOf(t, wrongHost)+"/ok", lo), watch.Down, watch.ClassTLSHostname, 0, func(t *testing.T, r watch.Result) {
			if r.TLS == nil || r.TLS.Subject != "someone-else.test" {
				t.Errorf("tls = %+v", r.TLS)
			}
		}},
		{"untrusted chain", endpoint(watch.RoleSignIn, "https://sts.partner.test:"+portOf(t, untrusted)+"/ok", lo), watch.Down, watch.ClassTLSUntrusted, 0, nil},
		{"not TLS", endpoint(watch.RoleSignIn, "https://sts.partner.test:"+strings.TrimPrefix(garbage.Addr().String(), "127.0.0.1:")+"/", lo), watch.Down, watch.ClassTLSHandshake, 0, nil},
		{"connection refused", endpoint(watch.RoleSignIn, "https://sts.partner.test:"+closedPort+"/", lo), watch.Down, watch.ClassConnect, 0, nil},
		{"name does not resolve", endpoint(watch.RoleSignIn, "https://nowhere.partner.test:"+pt.port+"/", lo), watch.Down, watch.ClassDNS, 0, nil},
		{"redirect to http", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/to-http"), lo), watch.Down, watch.ClassRedirectToHTTP, 0, nil},
		{"redirect to a private address", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/to-private"), lo), watch.Down, watch.ClassRedirectBlocked, 0, func(t *testing.T, r watch.Result) {
			if !strings.Contains(r.Detail, "10.20.0.5") || r.RedirectHost != "10.20.0.5" {
				t.Errorf("detail %q redirect host %q", r.Detail, r.RedirectHost)
			}
		}},
		{"redirect to a name inside", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/to-inside-name"), lo), watch.Down, watch.ClassRedirectBlocked, 0, nil},
		{"redirect to the instance metadata service", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/to-imds"), lo), watch.Down, watch.ClassRedirectBlocked, 0, nil},
		{"endless redirects", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/loop"), lo), watch.Up, watch.ClassRedirect, 302, nil},
		{"inside address not allowed", endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/ok"), netguard.Policy{}), watch.Down, watch.ClassAddressBlocked, 0, nil},
		{"plain http", endpoint(watch.RoleSignIn, "http://sts.partner.test/ok", lo), watch.Skipped, watch.ClassNotHTTPS, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			done := make(chan watch.Result, 1)
			go func() { done <- prober(ca, t).Check(context.Background(), tc.ep) }()
			var r watch.Result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("the check did not return: it hangs")
			}
			if r.State != tc.state || r.Class != tc.class || r.HTTP != tc.http {
				t.Fatalf("got %s/%s HTTP %d (%s), want %s/%s HTTP %d", r.State, r.Class, r.HTTP, r.Detail, tc.state, tc.class, tc.http)
			}
			if strings.Contains(r.Detail, "?") || strings.Contains(r.Detail, pt.port+"/") {
				t.Errorf("detail quotes the URL: %q", r.Detail)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// The first connection's phases are measured: DNS, TCP, TLS.
func TestProberMeasuresPhases(t *testing.T) {
	ca := newPKI(t)
	pt := newPartner(t, ca)
	r := prober(ca, t).Check(context.Background(), endpoint(watch.RoleSignIn, pt.url("sts.partner.test", "/sluggish"), loopbackOnly()))
	if r.State != watch.Up || r.LatencyMs < 150 {
		t.Fatalf("%+v", r)
	}
	if r.LatencyMs < r.DNSMs+r.ConnectMs+r.TLSMs {
		t.Errorf("latency %d ms is less than its phases %d+%d+%d", r.LatencyMs, r.DNSMs, r.ConnectMs, r.TLSMs)
	}
}

// A round never has more checks in flight than its concurrency, and a
// stopped round returns at once without counting unstarted endpoints as
// down.
func TestCheckAllBoundsConcurrency(t *testing.T) {
	ca := newPKI(t)
	pt := newPartner(t, ca)
	var eps []watch.Endpoint
	for i := 0; i < 24; i++ {
		eps = append(eps, endpoint(watch.RoleSignIn, pt.url("sts.partner.test", fmt.Sprintf("/sluggish?i=%d", i)), loopbackOnly()))
	}
	res := prober(ca, t).CheckAll(context.Background(), eps, 4)
	for i, r := range res {
		if r.State != watch.Up {
			t.Errorf("endpoint %d: %+v", i, r)
		}
	}
	if m := pt.maxSeen.Load(); m > 4 || m < 2 {
		t.Errorf("at most %d checks were in flight at once, want 2..4", m)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res = prober(ca, t).CheckAll(ctx, eps, 4)
	for i, r := range res {
		if r.State != "" {
			t.Errorf("stopped round: endpoint %d got %s", i, r.State)
		}
	}
}

// connector is an API behind a connector: it answers the contract and
// remembers what it was sent.
type connector struct {
	mu   sync.Mutex
	auth []string
	hits int
}

func (c *connector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.hits++
	c.auth = append(c.auth, r.Header.Get("Authorization"))
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]string{"version": "1.0.0", "action": "Continue"})
}

// API connectors are checked with the contract probe through the guard: a
// target that resolves inside the network never receives the call.
func TestConnectorChecksGoThroughTheGuard(t *testing.T) {
	ca := newPKI(t)
	api := &connector{}
	srv := tlsServer(t, ca.issue(t, []string{"api.partner.test"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)), api)
	conn := &inventory.APIConnector{ID: "c1", DisplayName: "Loyalty", AuthType: inventory.AuthBasic, Username: "entra"}
	ep := watch.Endpoint{Role: watch.RoleAPI, URL: "https://api.partner.test:" + portOf(t, srv) + "/check?code=KEY", Step: probe.StepPostAttributeCollection, Connector: conn, Network: loopbackOnly()}
	ep.Display = watch.DisplayURL(ep.URL)
	p := prober(ca, t)
	p.APITimeout = 2 * time.Second

	r := p.Check(context.Background(), ep)
	if r.State != watch.Up || r.Class != "api-no-credential" || r.HTTP != 200 || r.TLS == nil {
		t.Fatalf("%+v", r)
	}
	if strings.Contains(ep.Display, "KEY") || strings.Contains(r.Detail, "KEY") {
		t.Error("the function key leaked")
	}

	// With a credential (the pipeline's ConnectorCheck), the same guarded
	// client carries it.
	p.Connector = func(ctx context.Context, ep watch.Endpoint, client *http.Client) probe.Result {
		return probe.Probe(ctx, probe.Request{URL: ep.URL, Step: ep.Step, Client: client, Auth: probe.Auth{BasicUser: "entra", BasicPassword: "pw"}})
	}
	if r := p.Check(context.Background(), ep); r.State != watch.Up || r.Class != "api-continue" {
		t.Fatalf("%+v", r)
	}

	before := api.hits
	ep.Network = netguard.Policy{}
	if r := p.Check(context.Background(), ep); r.State != watch.Down || r.Class != watch.ClassAddressBlocked {
		t.Fatalf("unguarded: %+v", r)
	}
	if api.hits != before {
		t.Error("the connector behind a refused address received the request")
	}
}

func TestFromProbeMapsOutcomes(t *testing.T) {
	at := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)
	for outcome, want := range map[probe.Outcome]struct {
		state watch.State
		class string
	}{
		probe.Continue: {watch.Up, "api-continue"}, probe.Block: {watch.Up, "api-block"}, probe.ValidationError: {watch.Up, "api-validation-error"},
		probe.NoCredential: {watch.Up, "api-no-credential"}, probe.Malformed: {watch.Down, "api-malformed"}, probe.AuthFailed: {watch.Down, "api-auth-failed"},
		probe.TLSError: {watch.Down, "api-tls-error"}, probe.Timeout: {watch.Down, watch.ClassTimeout}, probe.Unreachable: {watch.Down, "api-unreachable"},
	} {
		r := watch.FromProbe(probe.Result{Outcome: outcome, Latency: 1500 * time.Millisecond}, at)
		if r.State != want.state || r.Class != want.class || r.LatencyMs != 1500 || !r.At.Equal(at) {
			t.Errorf("%s: %+v", outcome, r)
		}
	}
}
