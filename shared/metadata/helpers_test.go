package metadata

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// testNow is the clock of every generated fixture.
var testNow = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

// testKey is a signing key and its self-signed certificate.
type testKey struct {
	signer crypto.Signer
	cert   *x509.Certificate
}

func (k *testKey) der() []byte { return k.cert.Raw }
func (k *testKey) b64() string { return base64.StdEncoding.EncodeToString(k.cert.Raw) }
func (k *testKey) trust() *TrustAnchor {
	return &TrustAnchor{Certificates: []*x509.Certificate{k.cert}, RequireSignature: true}
}
func (k *testKey) sha256() string       { return certSHA256(k.cert.Raw) }
func (k *testKey) notAfter() time.Time  { return k.cert.NotAfter }
func (k *testKey) notBefore() time.Time { return k.cert.NotBefore }

var (
	keysMu sync.Mutex
	keys   = map[string]*testKey{}
)

// key returns a cached key pair named name: "rsa…" names are RSA-2048,
// "ec…" names ECDSA P-256. Certificates are valid from notBefore for the
// given number of days (defaults when zero).
func key(t testing.TB, name string) *testKey {
	return keyValid(t, name, testNow.AddDate(-1, 0, 0), 3*365)
}

func keyValid(t testing.TB, name string, notBefore time.Time, days int) *testKey {
	t.Helper()
	id := fmt.Sprintf("%s|%s|%d", name, notBefore.Format(time.RFC3339), days)
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keys[id]; ok {
		return k
	}
	var signer crypto.Signer
	var err error
	if strings.HasPrefix(name, "ec") {
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	} else {
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	}
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(int64(len(keys) + 1)),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    notBefore,
		NotAfter:     notBefore.AddDate(0, 0, days),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, signer.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	k := &testKey{signer: signer, cert: cert}
	keys[id] = k
	return k
}

// idp describes a generated EntityDescriptor.
type idp struct {
	id         string
	certs      []*testKey
	sso        string // HTTP-Redirect SSO location; "" for none
	passive    string // WS-Fed passive endpoint; "" for no STS role
	validUntil string
	noSAML     bool
}

// xml renders the entity. The md prefix is declared on it, so it stands
// alone or inside an aggregate.
func (e idp) xml() string {
	var b strings.Builder
	fmt.Fprintf(&b, `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="%s"`, e.id)
	if e.validUntil != "" {
		fmt.Fprintf(&b, ` validUntil="%s"`, e.validUntil)
	}
	b.WriteString(">\n")
	keys := func() {
		for _, k := range e.certs {
			fmt.Fprintf(&b, "    <md:KeyDescriptor use=\"signing\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n", k.b64())
		}
	}
	if e.passive != "" {
		b.WriteString(`  <md:RoleDescriptor xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706" xsi:type="fed:SecurityTokenServiceType" protocolSupportEnumeration="http://docs.oasis-open.org/wsfed/federation/200706">` + "\n")
		keys()
		fmt.Fprintf(&b, "    <fed:PassiveRequestorEndpoint><wsa:EndpointReference xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><wsa:Address>%s</wsa:Address></wsa:EndpointReference></fed:PassiveRequestorEndpoint>\n", e.passive)
		b.WriteString("  </md:RoleDescriptor>\n")
	}
	if !e.noSAML {
		b.WriteString(`  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + "\n")
		keys()
		if e.sso != "" {
			fmt.Fprintf(&b, "    <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST\" Location=\"%s/post\"/>\n", e.sso)
			fmt.Fprintf(&b, "    <md:SingleSignOnService Binding=\"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect\" Location=\"%s\"/>\n", e.sso)
		}
		b.WriteString("  </md:IDPSSODescriptor>\n")
	}
	b.WriteString("</md:EntityDescriptor>")
	return b.String()
}

// aggregate wraps entities in an EntitiesDescriptor with ID "agg".
func aggregate(attrs string, entities ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?>` + "\n" +
		`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="agg" Name="urn:test:federation"` + attrs + ">\n" +
		strings.Join(entities, "\n") + "\n</md:EntitiesDescriptor>\n"
}

// signOpts chooses how sign() signs.
type signOpts struct {
	method string // SignatureMethod URI; default rsa-sha256 / ecdsa-sha256
	c14n   dsig.Canonicalizer
	last   bool // leave the Signature as last child (goxmldsig's default)
}

// sign signs the document's root with goxmldsig (enveloped, reference to
// the root's ID or "") and moves the Signature to be the first child, where
// the SAML metadata schema puts it.
func sign(t testing.TB, doc string, k *testKey, o signOpts) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(k.signer, [][]byte{k.der()})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = o.c14n
	if ctx.Canonicalizer == nil {
		ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	}
	if o.method != "" {
		if err := ctx.SetSignatureMethod(o.method); err != nil {
			t.Fatal(err)
		}
	}
	// goxmldsig's exclusive canonicaliser rewrites the tree it digests
	// (it drops namespace declarations only used inside attribute values,
	// such as xmlns:fed for xsi:type="fed:…"), so sign one copy and put the
	// signature into an untouched second copy.
	sig, err := ctx.ConstructSignature(d.Root(), true)
	if err != nil {
		t.Fatal(err)
	}
	orig := etree.NewDocument()
	if err := orig.ReadFromString(doc); err != nil {
		t.Fatal(err)
	}
	root := orig.Root()
	if o.last {
		root.AddChild(sig)
	} else {
		root.InsertChildAt(0, sig)
	}
	out, err := orig.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustRead(t testing.TB, doc []byte, opts ReadOptions) *Document {
	t.Helper()
	if opts.Now.IsZero() {
		opts.Now = testNow
	}
	d, err := ReadBytes(context.Background(), doc, opts)
	if err != nil {
		t.Fatalf("ReadBytes: %v", err)
	}
	return d
}

func wantKind(t testing.TB, err error, kind ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want kind %s", kind)
	}
	if got := KindOf(err); got != kind {
		t.Fatalf("got kind %q (%v), want %q", got, err, kind)
	}
}

func certSHA256(der []byte) string {
	sum := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// canonOpts chooses what canonicalDocument covers.
type canonOpts struct {
	// withoutSignature leaves out the root's first ds:Signature child (the
	// enveloped-signature transform).
	withoutSignature bool
	// wholeDocument adds processing instructions outside the root (a
	// Reference URI="").
	wholeDocument bool
	// outsideComments adds comments outside the root too (a whole
	// document canonicalised with comments, as xmllint --c14n does; no
	// signature reference of this package covers them).
	outsideComments bool
}

// canonicalDocument canonicalises a document's root with the package's
// canonicaliser, reading it through the same filter and decoder as Read.
func canonicalDocument(doc []byte, mode c14nMode, o canonOpts) ([]byte, error) {
	var out bytes.Buffer
	var scope nsScope
	c := newCanonicalizer(&out, mode, &scope)
	dec := xml.NewDecoder(newLexFilter(context.Background(), bytes.NewReader(bytes.TrimPrefix(doc, utf8BOM)), DefaultLimits))
	dec.Strict = true
	depth, skipping, sawChild, rootDone := 0, 0, false, false
	var open []xml.Name
	for {
		tok, err := dec.RawToken()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if skipping > 0 {
			switch tok.(type) {
			case xml.StartElement:
				skipping++
			case xml.EndElement:
				skipping--
			}
			if skipping == 0 {
				depth--
			}
			continue
		}
		switch tk := tok.(type) {
		case xml.StartElement:
			if rootDone {
				return nil, errors.New("content after the root")
			}
			scope.push(tk.Attr)
			depth++
			open = append(open, tk.Name)
			if depth == 2 && !sawChild {
				sawChild = true
				if uri, _ := scope.lookup(tk.Name.Space); o.withoutSignature && uri == nsDS && tk.Name.Local == "Signature" {
					scope.pop()
					open = open[:len(open)-1]
					skipping = 1
					continue
				}
			}
			c.start(tk)
		case xml.EndElement:
			if depth == 0 || open[len(open)-1] != tk.Name {
				return nil, errors.New("unbalanced end tag")
			}
			open = open[:len(open)-1]
			c.end(tk.Name)
			scope.pop()
			depth--
			rootDone = depth == 0
		case xml.Comment:
			switch {
			case depth > 0:
				c.token(tk)
			case o.outsideComments && mode.comments && rootDone:
				c.buf = append(c.buf, '\n')
				c.comment(tk)
			case o.outsideComments && mode.comments:
				c.comment(tk)
				c.buf = append(c.buf, '\n')
			}
		case xml.ProcInst:
			switch {
			case tk.Target == "xml":
			case depth > 0:
				c.token(tk)
			case o.wholeDocument && rootDone:
				c.epilogPI(tk)
			case o.wholeDocument:
				c.prologPI(tk)
			}
		default:
			if depth > 0 {
				c.token(tk)
			}
		}
	}
	if depth != 0 || !rootDone {
		return nil, errors.New("no complete root element")
	}
	if err := c.flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
