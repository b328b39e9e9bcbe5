package netguard_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/netguard/netguardtest"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
		want   string
	}{
		{"127.0.0.1", false, "loopback"},
		{"127.8.9.10", false, "loopback"},
		{"10.1.2.3", false, "private"},
		{"172.31.255.255", false, "private"},
		{"192.168.0.1", false, "private"},
		{"100.100.100.200", false, "carrier-grade NAT"},
		{"169.254.169.254", false, "link-local"},
		{"168.63.129.16", false, "Azure's platform endpoint"},
		{"0.0.0.0", false, "unspecified"},
		{"224.0.0.251", false, "multicast"},
		{"255.255.255.255", false, "broadcast"},
		{"192.0.2.10", false, "documentation"},
		{"::", false, "unspecified"},
		{"::1", false, "loopback"},
		{"fe80::1%eth0", false, "link-local"},
		{"fc00::1", false, "unique-local"},
		{"fd00:ec2::254", false, "unique-local"},
		{"ff02::1", false, "multicast"},
		{"::ffff:127.0.0.1", false, "loopback"},
		{"::ffff:169.254.169.254", false, "link-local"},
		{"64:ff9b::a00:1", false, "private"}, // NAT64 of 10.0.0.1
		{"2001:db8::1", false, "documentation"},
		{"::127.0.0.1", false, "outside IPv6 global unicast"},
		{"8.8.8.8", true, ""},
		{"20.190.128.1", true, ""},
		{"168.63.129.17", true, ""},
		{"2606:4700::1111", true, ""},
		{"64:ff9b::808:808", true, ""}, // NAT64 of 8.8.8.8
		{"::ffff:8.8.8.8", true, ""},
	} {
		public, name := netguard.Classify(netip.MustParseAddr(tc.ip))
		if public != tc.public || !strings.Contains(name, tc.want) {
			t.Errorf("%s: public=%v %q, want public=%v %q", tc.ip, public, name, tc.public, tc.want)
		}
	}
}

func TestParseAllow(t *testing.T) {
	got, err := netguard.ParseAllow([]string{"127.0.0.1", "10.20.0.0/16", " fd12:3456::/48 ", "10.1.2.3/8", "::ffff:192.168.1.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1/32", "10.20.0.0/16", "fd12:3456::/48", "10.0.0.0/8", "192.168.1.0/24"}
	for i, p := range got {
		if p.String() != want[i] {
			t.Errorf("entry %d = %s, want %s", i, p, want[i])
		}
	}
	for _, bad := range []string{"169.254.0.0/16", "169.254.169.254", "0.0.0.0/0", "::/0", "fd00::/8", "168.63.0.0/16", "localhost", "10.0.0.0/33", "fe80::1%eth0", ""} {
		if _, err := netguard.ParseAllow([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	_, err = netguard.ParseAllow([]string{"169.254.0.0/16"})
	if err == nil || !strings.Contains(err.Error(), "169.254.169.254") {
		t.Errorf("error does not name the metadata endpoint: %v", err)
	}
}

func TestPolicyChecksLiteralHosts(t *testing.T) {
	var p netguard.Policy
	for _, h := range []string{"169.254.169.254", "[::1]", "127.0.0.1", "10.0.0.5", "[fe80::1%25eth0]"} {
		if err := p.CheckHost(h); err == nil {
			t.Errorf("%s accepted", h)
		}
	}
	for _, h := range []string{"metadata.partner.example", "8.8.8.8", "[2606:4700::1111]"} {
		if err := p.CheckHost(h); err != nil {
			t.Errorf("%s refused: %v", h, err)
		}
	}
	// An allow list opens what it lists, and never the metadata endpoint,
	// even when a Policy is built in code around ParseAllow.
	p.Allow = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.0.0/16")}
	if err := p.CheckHost("10.0.0.5"); err != nil {
		t.Errorf("allowed network refused: %v", err)
	}
	if err := p.CheckHost("169.254.169.254"); err == nil {
		t.Error("instance metadata address allowed")
	}
}

// countingServer counts the requests that reach it.
func countingServer(t *testing.T, addr string, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "inside")
	}))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func port(srv *httptest.Server) string {
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	return p
}

// A name that resolves to loopback is refused after resolution; listing
// loopback in the allow list lets the same request through.
func TestNameResolvingToLoopbackRefusedUnlessAllowed(t *testing.T) {
	srv, hits := countingServer(t, "127.0.0.1:0", nil)
	resolver, dns := netguardtest.NewResolver(t, map[string][]netip.Addr{"partner.example": {netip.MustParseAddr("127.0.0.1")}})
	url := "http://partner.example:" + port(srv) + "/md.xml"

	client := netguard.NewClient(netguard.Options{Resolver: resolver})
	_, err := client.Get(url)
	be, ok := netguard.Blocked(err)
	if !ok || be.Addr != netip.MustParseAddr("127.0.0.1") || be.Range != "loopback" {
		t.Fatalf("got %v, want a refused loopback dial", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the refused request reached the server")
	}
	if len(dns.Queries()) == 0 {
		t.Fatal("the name was not resolved through the test DNS server")
	}

	allow, _ := netguard.ParseAllow([]string{"127.0.0.1"})
	client = netguard.NewClient(netguard.Options{Resolver: resolver, Policy: netguard.Policy{Allow: allow}})
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("allowed loopback refused: %v", err)
	}
	resp.Body.Close()
	if hits.Load() != 1 {
		t.Fatalf("%d requests reached the server, want 1", hits.Load())
	}
}

// DNS rebinding: a name first answered with a public address and then with
// loopback is checked on the address actually dialled.
func TestRebindingCaughtAtDial(t *testing.T) {
	srv, hits := countingServer(t, "127.0.0.1:0", nil)
	resolver, dns := netguardtest.NewResolver(t, map[string][]netip.Addr{"rebind.example": {netip.MustParseAddr("8.8.8.8")}})
	// What a validator saw: a public address.
	addrs, err := resolver.LookupNetIP(context.Background(), "ip4", "rebind.example")
	if err != nil || len(addrs) != 1 || addrs[0].String() != "8.8.8.8" {
		t.Fatalf("first answer %v %v", addrs, err)
	}
	dns.Set("rebind.example", netip.MustParseAddr("127.0.0.1"))
	_, err = netguard.NewClient(netguard.Options{Resolver: resolver}).Get("http://rebind.example:" + port(srv) + "/")
	if _, ok := netguard.Blocked(err); !ok || hits.Load() != 0 {
		t.Fatalf("rebound name reached loopback: %v (hits %d)", err, hits.Load())
	}
}

// The link-local metadata endpoint is refused by the dial hook as a literal
// and, being the platform's token service, even when an allow list built in
// code covers it. Nothing leaves the machine: the hook runs before connect.
func TestLiteralMetadataEndpointRefusedAtDial(t *testing.T) {
	for _, allow := range [][]netip.Prefix{nil, {netip.MustParsePrefix("169.254.0.0/16")}} {
		c := netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: allow}})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://169.254.169.254/metadata/identity/oauth2/token", nil)
		_, err := c.Do(req)
		cancel()
		be, ok := netguard.Blocked(err)
		if !ok || be.Addr.String() != "169.254.169.254" {
			t.Fatalf("allow %v: %v", allow, err)
		}
	}
}

// An allowed https server redirecting to loopback elsewhere is stopped at
// the redirect, whether the target is a literal address or a name.
func TestRedirectsAreChecked(t *testing.T) {
	inside, insideHits := countingServer(t, "127.0.0.2:0", nil)
	resolver, _ := netguardtest.NewResolver(t, map[string][]netip.Addr{"inside.example": {netip.MustParseAddr("127.0.0.2")}})
	var target string
	outside := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target, http.StatusFound)
	}))
	defer outside.Close()
	allow, _ := netguard.ParseAllow([]string{"127.0.0.1"}) // the outside server only
	tlsConf := outside.Client().Transport.(*http.Transport).TLSClientConfig
	client := netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: allow}, Resolver: resolver, TLSClientConfig: tlsConf})

	for _, tc := range []struct {
		target string
		check  func(error) bool
	}{
		{"https://127.0.0.2:" + port(inside) + "/", func(err error) bool {
			be, ok := netguard.Blocked(err)
			return ok && be.Redirect && be.Range == "loopback"
		}},
		{"https://[::1]:" + port(inside) + "/", func(err error) bool { _, ok := netguard.Blocked(err); return ok }},
		{"https://169.254.169.254/latest/meta-data/", func(err error) bool { _, ok := netguard.Blocked(err); return ok }},
		{"http://inside.example:" + port(inside) + "/", func(err error) bool { return errors.Is(err, netguard.ErrDowngrade) }},
		{"https://inside.example:" + port(inside) + "/", func(err error) bool {
			be, ok := netguard.Blocked(err)
			return ok && be.Addr.String() == "127.0.0.2" // refused when dialled
		}},
	} {
		target = tc.target
		resp, err := client.Get(outside.URL + "/md.xml")
		if err == nil {
			resp.Body.Close()
		}
		if !tc.check(err) {
			t.Errorf("redirect to %s: %v", tc.target, err)
		}
	}
	if insideHits.Load() != 0 {
		t.Fatalf("%d requests reached the inside server", insideHits.Load())
	}
}

func TestRedirectLimit(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, srv.URL+"/again", http.StatusFound)
	}))
	defer srv.Close()
	allow, _ := netguard.ParseAllow([]string{"127.0.0.1"})
	_, err := netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: allow}}).Get(srv.URL)
	if err == nil || !strings.Contains(err.Error(), "more than 3 redirects") {
		t.Fatalf("endless redirects: %v", err)
	}
	resp, err := netguard.NewClient(netguard.Options{Policy: netguard.Policy{Allow: allow}, MaxRedirects: -1}).Get(srv.URL)
	if err != nil || resp.StatusCode != http.StatusFound {
		t.Fatalf("no-redirect client: %v", err)
	}
	resp.Body.Close()
}

// Guard puts the redirect rules on a caller's client without touching its
// transport.
func TestGuardKeepsTransport(t *testing.T) {
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/start" {
			return &http.Response{StatusCode: http.StatusFound, Header: http.Header{"Location": {"https://10.0.0.7/x"}}, Body: http.NoBody, Request: r}, nil
		}
		t.Errorf("followed to %s", r.URL)
		return nil, errors.New("unexpected")
	})
	c := netguard.Guard(&http.Client{Transport: rt}, netguard.Policy{}, 0)
	_, err := c.Get("https://partner.example/start")
	if be, ok := netguard.Blocked(err); !ok || !be.Redirect || !strings.Contains(be.Range, "private") {
		t.Fatalf("redirect to a private literal: %v", err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
