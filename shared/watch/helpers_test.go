package watch_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/netguard/netguardtest"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// pki is a test certificate authority: the watch trusts it (Prober.RootCAs)
// the way it trusts the system roots in production.
type pki struct {
	ca   *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "IdP Keeper watch test CA"},
		NotBefore: time.Now().Add(-24 * time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &pki{ca: ca, key: key, pool: pool}
}

var serial int64 = 100

// issue makes a server certificate for names valid from notBefore to notAfter.
func (p *pki) issue(t testing.TB, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return tls.Certificate{Certificate: [][]byte{der, p.ca.Raw}, PrivateKey: key, Leaf: leaf}
}

// tlsServer serves h over TLS with cert on 127.0.0.1.
func tlsServer(t testing.TB, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func portOf(t testing.TB, srv *httptest.Server) string {
	t.Helper()
	u, _ := url.Parse(srv.URL)
	return u.Port()
}

// loopbackOnly allows 127.0.0.1 only: the test servers' address. Nothing
// else inside is reachable, as for a dependency whose config lists one
// network.
func loopbackOnly() netguard.Policy {
	return netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
}

// resolver answers the test names: partner hosts on loopback, one name
// inside a private network.
func resolver(t testing.TB) *net.Resolver {
	lo := []netip.Addr{netip.MustParseAddr("127.0.0.1")}
	r, _ := netguardtest.NewResolver(t, map[string][]netip.Addr{
		"sts.partner.test":      lo,
		"login.partner.test":    lo,
		"other.partner.test":    lo,
		"api.partner.test":      lo,
		"inside.partner.test":   {netip.MustParseAddr("10.20.0.5")},
		"imds.partner.test":     {netip.MustParseAddr("169.254.169.254")},
		"metadata.partner.test": lo,
	})
	return r
}

func endpoint(role watch.Role, rawURL string, policy netguard.Policy) watch.Endpoint {
	ep := watch.Endpoint{Role: role, URL: rawURL, Display: watch.DisplayURL(rawURL), Network: policy, Method: http.MethodGet}
	if role == watch.RoleToken {
		ep.Method = http.MethodPost
	}
	return ep
}
