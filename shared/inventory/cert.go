package inventory

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ParseCertificateBase64 decodes a base64 DER certificate as Graph returns a
// federation's signingCertificate (and as SAML metadata carries it in
// ds:X509Certificate). Whitespace inside the base64 is ignored, because
// metadata documents often break it over indented lines.
func ParseCertificateBase64(s string) (*Certificate, error) {
	der, err := DecodeBase64DER(s)
	if err != nil {
		return nil, err
	}
	cert, err := CertificateFromDER(der)
	if err != nil {
		return nil, err
	}
	return &cert, nil
}

// CertificateFromDER decodes a DER certificate. Certificates with a negative
// serial number (old Microsoft ACS signing certificates, still found in
// Entra metadata) are refused by crypto/x509 since Go 1.23; for those the
// subject, issuer and dates are read with a minimal ASN.1 decode, because
// IdP Keeper only reports and compares them and never uses their key.
func CertificateFromDER(der []byte) (Certificate, error) {
	c, err := x509.ParseCertificate(der)
	if err == nil {
		return CertificateFromX509(c), nil
	}
	if !strings.Contains(err.Error(), "negative serial number") {
		return Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	var raw struct {
		TBS struct {
			Version    int `asn1:"optional,explicit,default:0,tag:0"`
			Serial     asn1.RawValue
			SigAlg     asn1.RawValue
			Issuer     pkix.RDNSequence
			Validity   struct{ NotBefore, NotAfter time.Time }
			Subject    pkix.RDNSequence
			PublicKey  asn1.RawValue
			Extensions asn1.RawContent `asn1:"optional"`
		}
		SigAlg asn1.RawValue
		Sig    asn1.BitString
	}
	if rest, err2 := asn1.Unmarshal(der, &raw); err2 != nil || len(rest) > 0 {
		return Certificate{}, fmt.Errorf("certificate: %w", err)
	}
	var subject, issuer pkix.Name
	subject.FillFromRDNSequence(&raw.TBS.Subject)
	issuer.FillFromRDNSequence(&raw.TBS.Issuer)
	return certificate(der, subject.String(), issuer.String(), raw.TBS.Validity.NotBefore, raw.TBS.Validity.NotAfter), nil
}

// DecodeBase64DER removes whitespace from s and decodes it as standard
// base64. It is split out so callers can hash the exact DER bytes.
func DecodeBase64DER(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
	if clean == "" {
		return nil, errors.New("certificate: empty base64")
	}
	der, err := base64.StdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("certificate: not base64: %w", err)
	}
	return der, nil
}

// CertificateFromX509 keeps the parts of c that IdP Keeper reasons about.
// Thumbprints are over the DER bytes, hex upper case, as Entra shows them.
func CertificateFromX509(c *x509.Certificate) Certificate {
	return certificate(c.Raw, c.Subject.String(), c.Issuer.String(), c.NotBefore, c.NotAfter)
}

func certificate(der []byte, subject, issuer string, notBefore, notAfter time.Time) Certificate {
	s1 := sha1.Sum(der)
	s256 := sha256.Sum256(der)
	return Certificate{
		Subject:   subject,
		Issuer:    issuer,
		SHA1:      strings.ToUpper(hex.EncodeToString(s1[:])),
		SHA256:    strings.ToUpper(hex.EncodeToString(s256[:])),
		NotBefore: notBefore.UTC(),
		NotAfter:  notAfter.UTC(),
	}
}
