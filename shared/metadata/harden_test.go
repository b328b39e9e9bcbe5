package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"reflect"
	"strings"
	"testing"
)

// Tests of issue 11's classes: each builds its own documents, signs them
// with xmlsec1 (the reference implementation) and checks that what was
// signed is what is read, and that forgeries are refused.

func pinned(k *testKey) *TrustAnchor {
	return &TrustAnchor{Certificates: []*x509.Certificate{k.cert}, RequireSignature: true}
}

// legitVariants are the signed forms the outside checks accept: prefixed
// and default namespaces, comments, inclusive and exclusive C14N (with a
// PrefixList), C14N 1.1, ECDSA, SHA-512, aggregates, "" and "#id"
// references.
func legitVariants() []struct {
	name string
	sig  sigTmpl
	ec   bool
} {
	return []struct {
		name string
		sig  sigTmpl
		ec   bool
	}{
		{"exc-c14n rsa-sha256 #id", sigTmpl{c14n: algExcC14N, uri: "#"}, false},
		{"exc-c14n URI=\"\"", sigTmpl{c14n: algExcC14N}, false},
		{"exc-c14n with comments #id", sigTmpl{c14n: algExcC14NWithComment, uri: "#"}, false},
		{"exc-c14n PrefixList", sigTmpl{c14n: algExcC14N, prefixList: "xsi fed #default", uri: "#"}, false},
		{"inclusive c14n", sigTmpl{c14n: algC14N10, uri: "#"}, false},
		{"inclusive c14n with comments URI=\"\"", sigTmpl{c14n: algC14N10WithComments}, false},
		{"c14n 1.1", sigTmpl{c14n: algC14N11, uri: "#"}, false},
		{"c14n 1.1 with comments", sigTmpl{c14n: algC14N11WithComments}, false},
		{"rsa-sha512 sha512", sigTmpl{c14n: algExcC14N, method: rsaSHA512URI, digest: digestSHA512, uri: "#"}, false},
		{"ecdsa-sha256", sigTmpl{c14n: algExcC14N, method: ecSHA256, uri: "#"}, true},
		{"ecdsa-sha512 inclusive", sigTmpl{c14n: algC14N10, method: ecSHA512, digest: digestSHA512}, true},
	}
}

// signVariant signs a fixture with xmlsec1 as a variant says; uri "#"
// means "#" + the root's ID.
func signVariant(t *testing.T, doc string, sig sigTmpl, ec bool) ([]byte, *testKey) {
	t.Helper()
	k := key(t, "rsa-federation")
	if ec {
		k = key(t, "ec-federation")
	}
	if sig.uri == "#" {
		sig.uri = "#" + rootID(doc)
	}
	return xmlsecSigned(t, doc, k, sig), k
}

// expectAgree checks xmlsec1's verdict on doc, then ours, and that both
// are want.
func expectVerdict(t *testing.T, doc []byte, k *testKey, want bool) (*Document, error) {
	t.Helper()
	theirs, log := xmlsecVerify(t, doc, k)
	if theirs != want {
		t.Fatalf("xmlsec1 verdict %v, want %v:\n%s", theirs, want, log)
	}
	d, err := read(context.Background(), bytes.NewReader(doc), ReadOptions{Now: testNow, Trust: pinned(k)})
	ours := d != nil && d.Signature.Verified
	if ours != want {
		t.Fatalf("our verdict %v (%v), want %v", ours, err, want)
	}
	return d, err
}

// TestXMLSecSignedLegitimateVariants: every legitimate variant signed by
// xmlsec1 is accepted with exactly the facts of the unsigned document.
func TestXMLSecSignedLegitimateVariants(t *testing.T) {
	xmlsecPath(t)
	for _, fx := range []struct {
		name, doc, entity string
	}{
		{"AD FS shaped", adfsShaped(t, key(t, "rsa-partner")), ""},
		{"aggregate", aggregateShaped(t), partnerID},
	} {
		unsigned := strings.Replace(fx.doc, sigMarker, "", 1)
		want := mustRead(t, []byte(unsigned), ReadOptions{EntityID: fx.entity})
		for _, v := range legitVariants() {
			t.Run(fx.name+"/"+v.name, func(t *testing.T) {
				signed, k := signVariant(t, fx.doc, v.sig, v.ec)
				expectVerdict(t, signed, k, true)
				got := mustRead(t, signed, ReadOptions{EntityID: fx.entity, Trust: pinned(k)})
				if !reflect.DeepEqual(got.Entity, want.Entity) || got.EntityCount != want.EntityCount || got.IdPCount != want.IdPCount {
					t.Fatalf("facts differ from the unsigned document's\n got %+v\nwant %+v", got.Entity, want.Entity)
				}
				if got.Entity.WSFed == nil || len(got.Entity.WSFed.PassiveRequestorEndpoints) != 1 || got.Entity.SAML == nil {
					t.Fatalf("roles %+v", got.Entity)
				}
			})
		}
	}
}

// TestAttributeValueNormalisation: a literal newline or tab in an attribute
// value is a space to every XML processor (XML 1.0 §3.3.3) and &#10; stays
// a newline; the canonical form must agree with xmlsec1's, and the value
// read is the normalised one.
func TestAttributeValueNormalisation(t *testing.T) {
	xmlsecPath(t)
	signed, k := signVariant(t, aggregateShaped(t), sigTmpl{c14n: algExcC14N, uri: "#"}, false)
	d, _ := expectVerdict(t, signed, k, true)
	if d.Entity.EntityID != "" {
		t.Logf("entity %s", d.Entity.EntityID)
	}
	got := mustRead(t, signed, ReadOptions{EntityID: partnerID, Trust: pinned(k)})
	if want := "urn:oasis:names:tc:SAML:2.0:protocol  urn:oasis:names:tc:SAML:1.1:protocol"; got.Entity.SAML.Protocols != want {
		t.Fatalf("protocols %q, want %q", got.Entity.SAML.Protocols, want)
	}
	crlf := bytes.ReplaceAll(signed, []byte("protocol\n\t"), []byte("protocol\r\n\t"))
	expectVerdict(t, crlf, k, true)
}
