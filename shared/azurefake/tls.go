package azurefake

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"sync"
	"time"
)

// The fake presents a certificate for whichever host name the client asked
// for, signed by a CA made once per process, so clients verify TLS exactly as
// in production against a root pool that trusts only that CA.
var (
	caOnce sync.Once
	caPool *x509.CertPool
)

func makeCA() {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "IdP Keeper test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caPool = x509.NewCertPool()
	caPool.AddCert(caCert)

	caCertificate, caSigner = caCert, caKey
}

var (
	caCertificate *x509.Certificate
	caSigner      *ecdsa.PrivateKey
	leafMu        sync.Mutex
	leaves        = map[string]*tls.Certificate{}
)

// leafFor issues (once per host) a certificate for the name the client asked
// for in SNI: graph.microsoft.com, a vault, or a partner's metadata host.
func leafFor(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := hello.ServerName
	if name == "" {
		name = "localhost"
	}
	leafMu.Lock()
	defer leafMu.Unlock()
	if c, ok := leaves[name]; ok {
		return c, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(leaves) + 2)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		DNSNames:     []string{name},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCertificate, &key.PublicKey, caSigner)
	if err != nil {
		return nil, err
	}
	c := &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	leaves[name] = c
	return c, nil
}

func serverTLSConfig() *tls.Config {
	caOnce.Do(makeCA)
	return &tls.Config{GetCertificate: leafFor, MinVersion: tls.VersionTLS12}
}

// Transport returns a transport that sends every request, whatever its host,
// to this server over TLS, verifying the server against the fake CA under
// the host name the request used.
func (s *Server) Transport() http.RoundTripper {
	caOnce.Do(makeCA)
	addr := s.Listener.Addr().String()
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}
}

// CAPEM is the fake's CA certificate in PEM, for a client that runs in
// another process (a benchmark measuring the client's memory alone).
func CAPEM() []byte {
	caOnce.Do(makeCA)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCertificate.Raw})
}

// DialTransport is Transport for a client in another process: every
// request, whatever its host, goes to addr over TLS, verified against the
// CA in caPEM under the host name the request used.
func DialTransport(addr string, caPEM []byte) (http.RoundTripper, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("azurefake: no CA certificate in the PEM given")
	}
	return &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
	}, nil
}
