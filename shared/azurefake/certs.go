package azurefake

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"strings"
	"time"

	pkcs12 "software.sslmate.com/src/go-pkcs12"
)

// CertificateBase64 makes a self-signed certificate with the given subject
// common name and validity and returns its DER bytes in base64, the form
// Graph uses for a federation partner's signingCertificate.
func CertificateBase64(commonName string, notBefore, notAfter time.Time) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// PFXOptions shape a test PFX.
type PFXOptions struct {
	CommonName          string
	NotBefore, NotAfter time.Time
	Password            string
	// WithChain adds the issuing CA certificate, as a PFX exported with
	// "include all certificates in the path" does.
	WithChain bool
	// Legacy uses 3DES/RC2 encryption; the default is AES-256 with PBES2,
	// what current Windows and OpenSSL 3 write.
	Legacy bool
}

// PFXBase64 makes a PKCS#12 file holding a new key and a certificate
// issued by a fresh CA, and returns it in base64 (the form of a Key Vault
// certificate's secret and of uploadClientCertificate's pkcs12Value) with the
// certificate's SHA-1 thumbprint in upper-case hex.
func PFXBase64(o PFXOptions) (b64, thumbprint string) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: o.CommonName + " issuing CA"},
		NotBefore: o.NotBefore.Add(-time.Hour), NotAfter: o.NotAfter.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: o.CommonName},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	var chain []*x509.Certificate
	if o.WithChain {
		chain = []*x509.Certificate{ca}
	}
	enc := pkcs12.Modern
	if o.Legacy {
		enc = pkcs12.LegacyDES
	}
	pfx, err := enc.Encode(key, cert, chain, o.Password)
	if err != nil {
		panic(err)
	}
	sum := sha1.Sum(der)
	return base64.StdEncoding.EncodeToString(pfx), strings.ToUpper(hex.EncodeToString(sum[:]))
}
