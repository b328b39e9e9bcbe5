package metadata

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"math/big"
	"strings"

	// Registers SHA-1/384/512 for crypto.Hash.New.
	_ "crypto/sha1"
	_ "crypto/sha512"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// TrustAnchor is what a partner's (or a federation's) metadata signature must
// chain to: a pinned certificate, or the SHA-256 fingerprint of the
// certificate the signature carries in its KeyInfo. As in Shibboleth, the
// pinned certificate's own validity dates do not fail verification: a
// federation signs with a long-lived key whose certificate is only a
// container; the dates are reported in SignatureStatus.
type TrustAnchor struct {
	// Certificates are pinned signer certificates; their public keys verify
	// the signature whatever KeyInfo says.
	Certificates []*x509.Certificate
	// SHA256 are accepted fingerprints of a signer certificate found in the
	// signature's KeyInfo (hex, any case, ':' or spaces allowed).
	SHA256 []string
	// AllowSHA1 accepts rsa-sha1/ecdsa-sha1 signatures and sha1 digests.
	AllowSHA1 bool
	// RequireSignature refuses an unsigned document. Without it an unsigned
	// document is accepted, but a signed one must still verify.
	RequireSignature bool
}

// ParseCertificatesPEM reads every CERTIFICATE block of a PEM file.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue // never echo other blocks: they may be keys
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &Error{Kind: KindConfig, Detail: "trust certificate does not parse", Err: err}
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, errorf(KindConfig, "no CERTIFICATE block in the PEM data")
	}
	return certs, nil
}

// NormalizeFingerprint returns a SHA-256 fingerprint as 64 upper-case hex
// digits, accepting ':' and space separators.
func NormalizeFingerprint(s string) (string, error) {
	clean := strings.ToUpper(strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s)))
	if len(clean) != 64 {
		return "", errorf(KindConfig, "SHA-256 fingerprint must have 64 hex digits, got %d", len(clean))
	}
	if _, err := hex.DecodeString(clean); err != nil {
		return "", errorf(KindConfig, "SHA-256 fingerprint is not hex")
	}
	return clean, nil
}

func (t *TrustAnchor) check() error {
	if t == nil {
		return nil
	}
	if len(t.Certificates) == 0 && len(t.SHA256) == 0 {
		return errorf(KindConfig, "trust anchor has neither a certificate nor a fingerprint")
	}
	for _, fp := range t.SHA256 {
		if _, err := NormalizeFingerprint(fp); err != nil {
			return err
		}
	}
	return nil
}

// SignatureStatus describes the root signature as found and, when a trust
// anchor was given, as verified.
type SignatureStatus struct {
	// Signed is true when the root has an enveloped ds:Signature.
	Signed bool `json:"signed"`
	// Verified is true when the signature verified against the trust anchor
	// and the digest matched the document.
	Verified        bool   `json:"verified"`
	SignatureMethod string `json:"signatureMethod,omitempty"`
	DigestMethod    string `json:"digestMethod,omitempty"`
	// ReferenceURI is "" (whole document) or "#" + the root's ID.
	ReferenceURI string `json:"referenceUri,omitempty"`
	// KeyInfoCertificates are the certificates the signature carries. They
	// are reported, not trusted: only a pin makes them count.
	KeyInfoCertificates []inventory.Certificate `json:"keyInfoCertificates,omitempty"`
	// Signer is the trusted certificate that verified the signature.
	Signer *inventory.Certificate `json:"signer,omitempty"`
}

// parsedSignature is the root's ds:Signature after its SignedInfo has been
// canonicalised and checked against the trust anchor.
type parsedSignature struct {
	digest []byte    // the signed DigestValue
	hash   hash.Hash // fed with the canonical root as it streams by
}

// Algorithm identifiers (XML-DSig 1.1, RFC 6931).
var signatureMethods = map[string]struct {
	hash  crypto.Hash
	ecdsa bool
}{
	"http://www.w3.org/2000/09/xmldsig#rsa-sha1":          {crypto.SHA1, false},
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256":   {crypto.SHA256, false},
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384":   {crypto.SHA384, false},
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512":   {crypto.SHA512, false},
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1":   {crypto.SHA1, true},
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256": {crypto.SHA256, true},
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384": {crypto.SHA384, true},
	"http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512": {crypto.SHA512, true},
}

var digestMethods = map[string]crypto.Hash{
	"http://www.w3.org/2000/09/xmldsig#sha1":        crypto.SHA1,
	"http://www.w3.org/2001/04/xmlenc#sha256":       crypto.SHA256,
	"http://www.w3.org/2001/04/xmldsig-more#sha384": crypto.SHA384,
	"http://www.w3.org/2001/04/xmlenc#sha512":       crypto.SHA512,
}

// The SignedInfo as signed, unmarshalled from its canonical bytes only, so
// what is used is exactly what the signature covers. Elements are slices so
// a repeated one is seen and refused instead of silently last-wins.
type xSignedInfo struct {
	C14N      []xAlgorithm `xml:"http://www.w3.org/2000/09/xmldsig# CanonicalizationMethod"`
	SigMethod []xAlgorithm `xml:"http://www.w3.org/2000/09/xmldsig# SignatureMethod"`
	Refs      []xReference `xml:"http://www.w3.org/2000/09/xmldsig# Reference"`
}

type xAlgorithm struct {
	Algorithm string       `xml:"Algorithm,attr"`
	Inclusive []xInclusive `xml:"http://www.w3.org/2001/10/xml-exc-c14n# InclusiveNamespaces"`
}

type xInclusive struct {
	PrefixList string `xml:"PrefixList,attr"`
}

type xReference struct {
	URI        *string `xml:"URI,attr"`
	Transforms []struct {
		Transform []xAlgorithm `xml:"http://www.w3.org/2000/09/xmldsig# Transform"`
	} `xml:"http://www.w3.org/2000/09/xmldsig# Transforms"`
	DigestMethod []xAlgorithm `xml:"http://www.w3.org/2000/09/xmldsig# DigestMethod"`
	DigestValue  []string     `xml:"http://www.w3.org/2000/09/xmldsig# DigestValue"`
}

func (a xAlgorithm) prefixList() string {
	if len(a.Inclusive) == 0 {
		return ""
	}
	return a.Inclusive[0].PrefixList
}

func sigErr(format string, args ...any) *Error { return errorf(KindSignature, format, args...) }

// signatureCaptured runs when the root's ds:Signature has been read: it
// reports what the signature says and, with a trust anchor, verifies
// SignedInfo and prepares the streaming digest of the rest of the root.
func (d *docReader) signatureCaptured() error {
	st := &d.doc.Signature
	st.Signed = true
	toks := d.sigTokens
	d.sigTokens = nil

	// Walk the captured subtree with its own scope, rooted in the root's.
	var scope nsScope
	scope.push(d.rootStart.Attr)
	var (
		signedInfo    []xml.Token
		sigValue      []byte
		keyInfoCerts  [][]byte
		inKeyInfoCert bool // inside KeyInfo/X509Data/X509Certificate
		counts        = map[string]int{}
		path          []string
		inSignedInfo  bool
		siC14N        xAlgorithm
		siC14NFound   bool
		sigStartAttrs []xml.Attr
	)
	for _, tok := range toks {
		switch t := tok.(type) {
		case xml.StartElement:
			scope.push(t.Attr)
			uri, _ := scope.lookup(t.Name.Space)
			local := t.Name.Local
			// Signature's and SignedInfo's children must be XML-DSig's
			// (KeyInfo may carry other vocabularies; it is only reported).
			if uri != nsDS && (len(path) <= 1 || (len(path) == 2 && inSignedInfo)) {
				return sigErr("unexpected element {%s}%s in ds:Signature", uri, local)
			}
			switch len(path) {
			case 0:
				sigStartAttrs = t.Attr
			case 1:
				counts[local]++
				if local != "SignedInfo" && local != "SignatureValue" && local != "KeyInfo" {
					return sigErr("unexpected ds:%s in ds:Signature", local)
				}
				inSignedInfo = local == "SignedInfo"
			case 2:
				if inSignedInfo && local == "CanonicalizationMethod" {
					siC14N.Algorithm, _ = attr(t, "Algorithm")
					siC14NFound = true
				}
			}
			if len(path) == 3 && path[1] == "SignedInfo" && path[2] == "CanonicalizationMethod" && uri == nsExcC && local == "InclusiveNamespaces" {
				pl, _ := attr(t, "PrefixList")
				siC14N.Inclusive = append(siC14N.Inclusive, xInclusive{pl})
			}
			path = append(path, local)
			if inSignedInfo && len(path) >= 2 {
				signedInfo = append(signedInfo, t)
			}
			// Only a certificate where XML-DSig puts it counts; the
			// path is checked whole (a certificate elsewhere in KeyInfo
			// is not one, and must not be taken for one).
			inKeyInfoCert = len(path) == 4 && path[1] == "KeyInfo" && path[2] == "X509Data" && local == "X509Certificate" && uri == nsDS
			if inKeyInfoCert {
				keyInfoCerts = append(keyInfoCerts, nil)
			}
		case xml.EndElement:
			if inSignedInfo && len(path) >= 2 {
				signedInfo = append(signedInfo, t)
			}
			if len(path) == 2 {
				inSignedInfo = false
			}
			path = path[:len(path)-1]
			scope.pop()
			inKeyInfoCert = false
		case xml.CharData:
			switch {
			case inSignedInfo && len(path) >= 2:
				signedInfo = append(signedInfo, t)
			case len(path) == 2 && path[1] == "SignatureValue":
				sigValue = append(sigValue, t...)
			case inKeyInfoCert:
				n := len(keyInfoCerts) - 1
				keyInfoCerts[n] = append(keyInfoCerts[n], t...)
			}
		default:
			if inSignedInfo && len(path) >= 2 {
				signedInfo = append(signedInfo, t)
			}
		}
	}
	if counts["SignedInfo"] != 1 || counts["SignatureValue"] != 1 || counts["KeyInfo"] > 1 {
		return sigErr("ds:Signature must have one SignedInfo, one SignatureValue and at most one KeyInfo")
	}
	if !siC14NFound {
		return sigErr("SignedInfo has no CanonicalizationMethod")
	}
	var kiCerts []*x509.Certificate
	for _, b64 := range keyInfoCerts {
		der, err := inventory.DecodeBase64DER(string(b64))
		if err != nil {
			continue
		}
		if c, err := parseX509(der); err == nil {
			kiCerts = append(kiCerts, c)
			st.KeyInfoCertificates = append(st.KeyInfoCertificates, inventory.CertificateFromX509(c))
		}
	}

	// Canonicalise SignedInfo in the namespace context of root and
	// Signature, exactly as the signer did.
	mode, ok := modeFor(siC14N.Algorithm, siC14N.prefixList())
	if !ok {
		return sigErr("unsupported SignedInfo CanonicalizationMethod %q", siC14N.Algorithm)
	}
	var canonical bytes.Buffer
	var siScope nsScope
	siScope.push(d.rootStart.Attr)
	siScope.push(sigStartAttrs)
	c := newCanonicalizer(&canonical, mode, &siScope)
	c.xmlAttrs = inheritedXMLAttrs(d.rootStart.Attr, sigStartAttrs)
	for _, tok := range signedInfo {
		switch t := tok.(type) {
		case xml.StartElement:
			siScope.push(t.Attr)
			c.start(t)
		case xml.EndElement:
			c.end(t.Name)
			siScope.pop()
		default:
			c.token(t)
		}
	}
	if err := c.flush(); err != nil {
		return sigErr("canonicalising SignedInfo: %v", err)
	}

	var si xSignedInfo
	if err := xml.Unmarshal(canonical.Bytes(), &si); err != nil {
		return &Error{Kind: KindSignature, Detail: "SignedInfo does not parse", Err: err}
	}
	// What canonicalised SignedInfo (read from the raw tokens) must be
	// what the signed SignedInfo says.
	if len(si.C14N) != 1 || si.C14N[0].Algorithm != siC14N.Algorithm || len(si.C14N[0].Inclusive) != len(siC14N.Inclusive) ||
		si.C14N[0].prefixList() != siC14N.prefixList() || len(si.SigMethod) != 1 {
		return sigErr("SignedInfo must have one CanonicalizationMethod and one SignatureMethod")
	}
	st.SignatureMethod = si.SigMethod[0].Algorithm
	if len(si.Refs) != 1 {
		return sigErr("SignedInfo has %d References; exactly one, to the root, is accepted", len(si.Refs))
	}
	ref := si.Refs[0]
	if len(ref.DigestMethod) != 1 || len(ref.DigestValue) != 1 || len(ref.Transforms) > 1 {
		return sigErr("Reference must have one DigestMethod, one DigestValue and at most one Transforms")
	}
	st.DigestMethod = ref.DigestMethod[0].Algorithm
	if ref.URI == nil {
		return sigErr("Reference has no URI")
	}
	st.ReferenceURI = *ref.URI
	rootID, _ := attr(d.rootStart, "ID")
	if *ref.URI != "" && (rootID == "" || *ref.URI != "#"+rootID) {
		return sigErr("Reference URI %q does not name the root element (ID %q)", *ref.URI, rootID)
	}

	if d.opts.Trust == nil {
		return nil // reported, not verified
	}
	trust := d.opts.Trust

	method, ok := signatureMethods[st.SignatureMethod]
	if !ok {
		return sigErr("unsupported SignatureMethod %q", st.SignatureMethod)
	}
	digestAlg, ok := digestMethods[st.DigestMethod]
	if !ok {
		return sigErr("unsupported DigestMethod %q", st.DigestMethod)
	}
	if (method.hash == crypto.SHA1 || digestAlg == crypto.SHA1) && !trust.AllowSHA1 {
		return &Error{Kind: KindSignature, Err: ErrSHA1}
	}

	// Transforms: enveloped-signature, and at most one canonicalisation
	// (the default is inclusive C14N 1.0). Anything else (XPath, XSLT) is
	// refused: it could make the digest cover less than the root.
	refMode, _ := modeFor(algC14N10, "")
	enveloped, c14nSeen := false, false
	if len(ref.Transforms) == 1 {
		for _, tr := range ref.Transforms[0].Transform {
			if tr.Algorithm == algEnveloped && !enveloped {
				enveloped = true
				continue
			}
			m, ok := modeFor(tr.Algorithm, tr.prefixList())
			if !ok || c14nSeen {
				return sigErr("unsupported or repeated Transform %q", tr.Algorithm)
			}
			refMode, c14nSeen = m, true
		}
	}
	if !enveloped {
		return sigErr("Reference lacks the enveloped-signature transform")
	}
	// A same-document reference, "" or "#id", selects its nodes without
	// comments (XML-DSig 4.4.3.3), whatever the canonicalisation says; only
	// the #xpointer forms keep them, and they are refused above.
	refMode.comments = false

	sigBytes, err := base64.StdEncoding.DecodeString(stripSpace(string(sigValue)))
	if err != nil {
		return sigErr("SignatureValue is not base64")
	}
	signer, err := verifySignedInfo(trust, kiCerts, canonical.Bytes(), sigBytes, method.hash, method.ecdsa)
	if err != nil {
		return err
	}
	sc := inventory.CertificateFromX509(signer)
	st.Signer = &sc

	want, err := base64.StdEncoding.DecodeString(stripSpace(ref.DigestValue[0]))
	if err != nil {
		return sigErr("DigestValue is not base64")
	}
	ps := &parsedSignature{digest: want, hash: digestAlg.New()}
	d.sig = ps

	// Start the streaming digest: the root start tag and whatever came
	// before the signature, then every later token as it is read.
	d.hasher = newCanonicalizer(ps.hash, refMode, &d.scope)
	if *ref.URI == "" {
		// The whole document: processing instructions outside the root
		// are part of it (comments are not, see above).
		d.wholeDocument = true
		for _, p := range d.prologPIs {
			d.hasher.prologPI(p)
		}
	}
	d.prologPIs = nil
	d.hasher.start(d.rootStart)
	for _, tok := range d.pending {
		d.hasher.token(tok)
	}
	d.pending = nil
	return nil
}

// finishSignature compares the streamed digest with the signed one.
func (d *docReader) finishSignature() error {
	st := &d.doc.Signature
	trust := d.opts.Trust
	if trust == nil {
		return nil
	}
	if !st.Signed {
		if trust.RequireSignature {
			return errorf(KindUnsigned, "the document has no root signature and one is required")
		}
		return nil
	}
	if d.sig == nil || d.hasher == nil {
		return sigErr("signature was not processed")
	}
	if err := d.hasher.flush(); err != nil {
		return sigErr("digest: %v", err)
	}
	got := d.sig.hash.Sum(nil)
	if subtle.ConstantTimeCompare(got, d.sig.digest) != 1 {
		return sigErr("digest mismatch: the document was changed after it was signed")
	}
	st.Verified = true
	return nil
}

// verifySignedInfo checks the signature value over the canonical SignedInfo
// with each trusted key and returns the certificate that verified.
func verifySignedInfo(trust *TrustAnchor, keyInfo []*x509.Certificate, signed, sig []byte, h crypto.Hash, isECDSA bool) (*x509.Certificate, error) {
	candidates := append([]*x509.Certificate(nil), trust.Certificates...)
	pins := map[string]bool{}
	for _, fp := range trust.SHA256 {
		n, _ := NormalizeFingerprint(fp)
		pins[n] = true
	}
	for _, c := range keyInfo {
		sum := sha256.Sum256(c.Raw)
		if pins[strings.ToUpper(hex.EncodeToString(sum[:]))] {
			candidates = append(candidates, c)
		}
	}
	if len(candidates) == 0 {
		fps := make([]string, 0, len(keyInfo))
		for _, c := range keyInfo {
			sum := sha256.Sum256(c.Raw)
			fps = append(fps, strings.ToUpper(hex.EncodeToString(sum[:])))
		}
		if len(fps) == 0 {
			return nil, sigErr("no pinned certificate and no KeyInfo certificate to match the fingerprint pins")
		}
		return nil, sigErr("signer certificate %s is not trusted", strings.Join(fps, ", "))
	}
	hh := h.New()
	hh.Write(signed)
	hashed := hh.Sum(nil)
	var lastErr error
	for _, c := range candidates {
		err := checkKey(c.PublicKey, h, hashed, sig, isECDSA)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, &Error{Kind: KindSignature, Detail: "SignatureValue does not verify with any trusted key", Err: lastErr}
}

func checkKey(pub any, h crypto.Hash, hashed, sig []byte, isECDSA bool) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if isECDSA {
			return errors.New("ECDSA signature but RSA key")
		}
		return rsa.VerifyPKCS1v15(k, h, hashed, sig)
	case *ecdsa.PublicKey:
		if !isECDSA {
			return errors.New("RSA signature but ECDSA key")
		}
		// XML-DSig wants r||s; some signers (goxmldsig among them) write
		// ASN.1 DER instead. Accept both: the math is the same.
		size := (k.Curve.Params().BitSize + 7) / 8
		if len(sig) == 2*size {
			r := new(big.Int).SetBytes(sig[:size])
			s := new(big.Int).SetBytes(sig[size:])
			if ecdsa.Verify(k, hashed, r, s) {
				return nil
			}
			return errors.New("ECDSA verification failed")
		}
		var rs struct{ R, S *big.Int }
		if _, err := asn1.Unmarshal(sig, &rs); err == nil && ecdsa.VerifyASN1(k, hashed, sig) {
			return nil
		}
		return errors.New("ECDSA verification failed")
	}
	return fmt.Errorf("unsupported key type %T", pub)
}

// inheritedXMLAttrs are xml:* attributes of the ancestors (nearest wins),
// which inclusive C14N copies onto the apex.
func inheritedXMLAttrs(ancestors ...[]xml.Attr) []xml.Attr {
	var out []xml.Attr
	at := map[string]int{}
	for _, attrs := range ancestors {
		for _, a := range attrs {
			if a.Name.Space != "xml" {
				continue
			}
			if i, ok := at[a.Name.Local]; ok {
				out[i] = a
				continue
			}
			at[a.Name.Local] = len(out)
			out = append(out, a)
		}
	}
	return out
}

func stripSpace(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r':
			return -1
		}
		return r
	}, s)
}

func parseX509(der []byte) (*x509.Certificate, error) { return x509.ParseCertificate(der) }

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
