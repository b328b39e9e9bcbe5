package metadata

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
)

// loopback is the explicit allowance tests need to fetch from httptest
// servers: without it the fetch refuses 127.0.0.1 like any inside address.
var loopback = netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}}

// insideServer listens on 127.0.0.2 — loopback, but outside the allowance
// above — and counts requests that reach it.
func insideServer(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("<EntityDescriptor/>"))
	}))
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, &hits
}

// A partner's https metadata URL redirecting to loopback is refused at the
// redirect, and the inside server never sees a request — with the fetcher's
// own guarded client (no Client given).
func TestFetchRefusesRedirectToLoopback(t *testing.T) {
	insideURL, hits := insideServer(t)
	partner := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, insideURL+"/admin", http.StatusFound)
	}))
	defer partner.Close()
	// Fetch's own client would not trust the test CA: a netguard client
	// that does stands in for it, next to a caller's plain client.
	tlsConf := partner.Client().Transport.(*http.Transport).TLSClientConfig
	guarded := netguard.NewClient(netguard.Options{Policy: loopback, TLSClientConfig: tlsConf})
	for name, f := range map[string]*Fetcher{"netguard client": {Client: guarded}, "caller's client": {Client: partner.Client()}} {
		_, err := f.Fetch(context.Background(), Source{URL: partner.URL + "/md.xml", Network: loopback}, Validators{})
		var be *netguard.BlockedError
		if KindOf(err) != KindRedirect || !errors.As(err, &be) || be.Addr.String() != "127.0.0.2" {
			t.Errorf("%s: got %v, want a refused redirect", name, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatalf("%d requests reached the inside server", hits.Load())
	}
}

// The link-local metadata endpoint is refused before anything is sent, with
// any client, and cannot be allowed.
func TestFetchRefusesInstanceMetadataEndpoint(t *testing.T) {
	sent := false
	spy := &http.Client{Transport: roundTrip(func(*http.Request) (*http.Response, error) {
		sent = true
		return nil, errors.New("must not be called")
	})}
	for _, src := range []Source{
		{URL: "https://169.254.169.254/metadata/instance"},
		{URL: "https://[fd00:ec2::254]/latest/meta-data/"},
		{URL: "https://169.254.169.254/", Network: netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16")}}},
		{MDQBase: "https://10.0.0.7/mdq", EntityID: "urn:x"},
	} {
		for _, f := range []*Fetcher{{Client: spy}, {}} {
			_, err := f.Fetch(context.Background(), src, Validators{})
			if _, ok := netguard.Blocked(err); !ok || KindOf(err) != KindUnreachable || !strings.Contains(err.Error(), "refused before sending") {
				t.Errorf("%+v: %v", src, err)
			}
		}
	}
	if sent {
		t.Fatal("a request was sent")
	}
}

// Without a Client, Fetch dials through netguard: localhost (a name, so no
// literal check can see it) is refused when connecting, and allowed when
// the source lists loopback.
func TestFetchChecksResolvedAddress(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte("<EntityDescriptor/>"))
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	url := "http://localhost:" + port + "/md.xml"
	_, err := (&Fetcher{}).Fetch(context.Background(), Source{URL: url, AllowHTTP: true}, Validators{})
	be, ok := netguard.Blocked(err)
	if !ok || be.Range != "loopback" || !strings.Contains(err.Error(), "refused when connecting") {
		t.Fatalf("localhost fetched: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatal("the refused fetch reached the server")
	}
	got, err := (&Fetcher{}).Fetch(context.Background(), Source{URL: url, AllowHTTP: true, Network: loopback}, Validators{})
	if err != nil || string(got.Body) != "<EntityDescriptor/>" {
		t.Fatalf("allowed loopback: %v", err)
	}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
