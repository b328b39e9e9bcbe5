package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
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

// Class 1: namespace-ill-formed declarations and names are refused, as
// libxml2 refuses them, before anything is read from them.
func TestNamespaceIllFormedRefused(t *testing.T) {
	const md = `xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`
	ent := func(extra, inner string) string {
		return `<md:EntityDescriptor ` + md + ` entityID="urn:x"` + extra + `>` + inner + `</md:EntityDescriptor>`
	}
	cases := map[string]string{
		"empty prefixed namespace":       ent(``, `<md:IDPSSODescriptor xmlns:md=""/>`),
		"empty prefixed namespace, root": `<md:EntityDescriptor ` + md + ` xmlns:x="" entityID="urn:x"/>`,
		"xml prefix rebound":             ent(` xmlns:xml="urn:x"`, ``),
		"xml namespace on another":       ent(` xmlns:p="http://www.w3.org/XML/1998/namespace"`, ``),
		"xml namespace as default":       ent(` xmlns="http://www.w3.org/XML/1998/namespace"`, ``),
		"xmlns prefix declared":          ent(` xmlns:xmlns="urn:x"`, ``),
		"xmlns namespace bound":          ent(` xmlns:p="http://www.w3.org/2000/xmlns/"`, ``),
		"xmlns namespace as default":     ent(` xmlns="http://www.w3.org/2000/xmlns/"`, ``),
		"element prefix xmlns":           ent(``, `<xmlns:a/>`),
		"name with an empty prefix":      ent(``, `<:a/>`),
		"name with an empty local part":  ent(``, `<md:/>`),
		"attribute with an empty prefix": ent(` :a="1"`, ``),
		"same attribute, two prefixes":   ent(` xmlns:a="urn:a" xmlns:b="urn:a" a:x="1" b:x="2"`, ``),
		"PI target with a colon":         ent(``, `<?a:b c?>`),
		"reserved PI target":             ent(``, `<?XmL c?>`),
		"PI target run into its data":    `<?xm| version="1.0"?>` + ent(``, ``),
		"XML declaration not first":      "\n" + `<?xml version="1.0"?>` + ent(``, ``),
		"malformed XML declaration":      `<?xml vepsion="1.0"?>` + ent(``, ``),
		"XML declaration, wrong order":   `<?xml encoding="UTF-8" version="1.0"?>` + ent(``, ``),
	}
	for name, doc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ReadBytes(context.Background(), []byte(doc), ReadOptions{EntityID: "urn:x", Now: testNow})
			wantKind(t, err, KindNotXML)
		})
	}
	// What is well-formed stays accepted: the xml prefix bound to its own
	// namespace, an undeclared default namespace, attributes that differ
	// in namespace.
	for _, doc := range []string{
		ent(` xmlns:xml="http://www.w3.org/XML/1998/namespace" xml:lang="en"`, ``),
		ent(``, `<x xmlns=""/>`),
		ent(` xmlns:a="urn:a" xmlns:b="urn:b" a:x="1" b:x="2" x="3"`, ``),
		`<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` + ent(``, ``),
	} {
		if _, err := ReadBytes(context.Background(), []byte(doc), ReadOptions{EntityID: "urn:x", Now: testNow}); err != nil {
			t.Errorf("%s: %v", doc, err)
		}
	}
}

// Class 1, signed: xmlns:md="" added to a signed element leaves the
// canonical form unchanged (it renders no declaration), while a reader that
// accepted it would see the element leave the SAML namespace: the signing
// certificate, a duplicate entity or an expired group would vanish.
func TestEmptyPrefixForgeriesRefused(t *testing.T) {
	xmlsecPath(t)
	signed, k := signVariant(t, aggregateShaped(t), sigTmpl{c14n: algExcC14N, uri: "#"}, false)
	forgeries := map[string][]byte{
		"hide a signing KeyDescriptor": replaceOnce(t, signed, `<md:KeyDescriptor use="signing">`, `<md:KeyDescriptor xmlns:md="" use="signing">`),
		"hide a validity group":        replaceOnce(t, signed, `<md:EntitiesDescriptor Name="urn:test:group"`, `<md:EntitiesDescriptor xmlns:md="" Name="urn:test:group"`),
		"hide a passive endpoint":      replaceOnce(t, signed, `<fed:PassiveRequestorEndpoint>`, `<fed:PassiveRequestorEndpoint xmlns:fed="">`),
	}
	for name, doc := range forgeries {
		t.Run(name, func(t *testing.T) {
			theirs, log := xmlsecVerify(t, doc, k)
			_, err := ReadBytes(context.Background(), doc, ReadOptions{EntityID: partnerID, Now: testNow, Trust: pinned(k)})
			wantKind(t, err, KindNotXML)
			if !strings.Contains(err.Error(), "XML 1.1") {
				t.Fatalf("the refusal should say why: %v", err)
			}
			t.Logf("xmlsec1 (libxml2 reports the namespace error and goes on): verified=%v %s", theirs, firstLine(log))
		})
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// Class 2: the prefix inside xsi:type is resolved as the signed form
// resolves it.
func TestXsiTypePrefixBoundAsSigned(t *testing.T) {
	xmlsecPath(t)
	const fed = "http://docs.oasis-open.org/wsfed/federation/200706"
	doc := adfsShaped(t, key(t, "rsa-partner"))
	signed, k := signVariant(t, doc, sigTmpl{c14n: algExcC14N, uri: "#"}, false)

	t.Run("AD FS shape verifies with its WS-Fed role", func(t *testing.T) {
		d := mustRead(t, signed, ReadOptions{Trust: pinned(k)})
		if d.Entity.WSFed == nil || d.Entity.WSFed.PassiveRequestorEndpoints[0] != adfsPassive {
			t.Fatalf("WS-Fed role %+v", d.Entity.WSFed)
		}
	})
	t.Run("rebinding the role's prefix hides the role: refused", func(t *testing.T) {
		// fed is declared on RoleDescriptor, which Exclusive C14N does
		// not render there; the child that uses fed gets its own
		// declaration, so the digest does not change.
		forged := replaceOnce(t, signed, `xmlns:fed="`+fed+`" xsi:type`, `xmlns:fed="urn:evil" xsi:type`)
		forged = replaceOnce(t, forged, `<fed:PassiveRequestorEndpoint>`, `<fed:PassiveRequestorEndpoint xmlns:fed="`+fed+`">`)
		if theirs, _ := xmlsecVerify(t, forged, k); !theirs {
			t.Fatal("xmlsec1 should verify: the changed declaration is outside the digest")
		}
		plain := mustRead(t, forged, ReadOptions{})
		if plain.Entity.WSFed != nil {
			t.Fatal("unverified, the forged binding should hide the role (the attack this refuses)")
		}
		_, err := ReadBytes(context.Background(), forged, ReadOptions{Now: testNow, Trust: pinned(k)})
		wantKind(t, err, KindSignature)
		if !strings.Contains(err.Error(), "xsi:type") {
			t.Fatalf("got %v", err)
		}
	})

	// A role typed with a prefix no element of the role uses: Exclusive
	// C14N fixes its binding nowhere, and the signed bytes carry only the
	// local name.
	other := strings.Replace(doc, `xsi:type="fed:SecurityTokenServiceType"`, `xmlns:t="urn:other-types" xsi:type="t:SecurityTokenServiceType"`, 1)
	t.Run("a prefix the signature does not fix, bound elsewhere: refused", func(t *testing.T) {
		signedOther, k := signVariant(t, other, sigTmpl{c14n: algExcC14N, uri: "#"}, false)
		if unverified := mustRead(t, signedOther, ReadOptions{}); unverified.Entity.WSFed != nil {
			t.Fatal("t is not the WS-Fed namespace: no STS role")
		}
		_, err := ReadBytes(context.Background(), signedOther, ReadOptions{Now: testNow, Trust: pinned(k)})
		wantKind(t, err, KindSignature)
		if !strings.Contains(err.Error(), "PrefixList") {
			t.Fatalf("the refusal should say how to sign instead: %v", err)
		}
		// Rebinding t cannot make a different role than the local name
		// says: the same signed bytes read as the STS role they name.
		forged := replaceOnce(t, signedOther, `xmlns:t="urn:other-types"`, `xmlns:t="`+fed+`"`)
		if theirs, _ := xmlsecVerify(t, forged, k); !theirs {
			t.Fatal("xmlsec1 should verify: the declaration is outside the digest")
		}
		d := mustRead(t, forged, ReadOptions{Trust: pinned(k)})
		if d.Entity.WSFed == nil {
			t.Fatal("SecurityTokenServiceType, signed, with the prefix bound nowhere in the signed form: an STS role")
		}
	})
	t.Run("WS-Fed children in a default namespace: the role is read by its signed local name", func(t *testing.T) {
		dflt := strings.Replace(doc, `<fed:PassiveRequestorEndpoint>`, `<PassiveRequestorEndpoint xmlns="`+fed+`">`, 1)
		dflt = strings.Replace(dflt, `</fed:PassiveRequestorEndpoint>`, `</PassiveRequestorEndpoint>`, 1)
		signedDefault, k := signVariant(t, dflt, sigTmpl{c14n: algExcC14N, uri: "#"}, false)
		d := mustRead(t, signedDefault, ReadOptions{Trust: pinned(k)})
		if d.Entity.WSFed == nil || len(d.Entity.WSFed.PassiveRequestorEndpoints) != 1 {
			t.Fatalf("WS-Fed role %+v", d.Entity.WSFed)
		}
		// Rebinding fed on the role cannot hide it: refused.
		forged := replaceOnce(t, signedDefault, `xmlns:fed="`+fed+`" xsi:type`, `xmlns:fed="urn:evil" xsi:type`)
		if theirs, _ := xmlsecVerify(t, forged, k); !theirs {
			t.Fatal("xmlsec1 should verify: the declaration is outside the digest")
		}
		_, err := ReadBytes(context.Background(), forged, ReadOptions{Now: testNow, Trust: pinned(k)})
		wantKind(t, err, KindSignature)
	})
	t.Run("the same role signed with a PrefixList or inclusive C14N is read", func(t *testing.T) {
		for _, sig := range []sigTmpl{{c14n: algExcC14N, prefixList: "t", uri: "#"}, {c14n: algC14N10, uri: "#"}} {
			signedOther, k := signVariant(t, other, sig, false)
			d := mustRead(t, signedOther, ReadOptions{Trust: pinned(k)})
			if d.Entity.WSFed != nil {
				t.Fatal("t is bound to urn:other-types: no STS role")
			}
			forged := replaceOnce(t, signedOther, `xmlns:t="urn:other-types"`, `xmlns:t="`+fed+`"`)
			expectVerdict(t, forged, k, false) // now the binding is signed
		}
	})
}

// Class 3: validUntil on a role (SAML metadata §2.4.1). An expired role
// contributes nothing; an entity left without an IdP role is refused as
// expired; the role's validUntil is reported.
func TestRoleValidUntil(t *testing.T) {
	xmlsecPath(t)
	past, future := testNow.Add(-time.Hour).Format(time.RFC3339), testNow.Add(time.Hour).Format(time.RFC3339)
	base := adfsShaped(t, key(t, "rsa-partner"))
	samlExpired := strings.Replace(base, `<IDPSSODescriptor `, `<IDPSSODescriptor validUntil="`+past+`" `, 1)
	samlExpired = strings.Replace(samlExpired, `<RoleDescriptor `, `<RoleDescriptor validUntil="`+future+`" `, 1)
	signed, k := signVariant(t, samlExpired, sigTmpl{c14n: algExcC14N, uri: "#"}, false)
	d := mustRead(t, signed, ReadOptions{Trust: pinned(k)})
	if d.Entity.SAML != nil {
		t.Fatalf("the expired SAML role was read: %+v", d.Entity.SAML)
	}
	if d.Entity.WSFed == nil || d.Entity.WSFed.ValidUntil == nil || d.Entity.WSFed.ValidUntil.Format(time.RFC3339) != future {
		t.Fatalf("WS-Fed role %+v", d.Entity.WSFed)
	}
	if len(d.Entity.Problems) != 1 || !strings.Contains(d.Entity.Problems[0], "IDPSSODescriptor expired") {
		t.Fatalf("problems %v", d.Entity.Problems)
	}
	// An hour and a half earlier both roles are live.
	early := mustRead(t, signed, ReadOptions{Trust: pinned(k), Now: testNow.Add(-90 * time.Minute)})
	if early.Entity.SAML == nil || early.Entity.WSFed == nil {
		t.Fatalf("roles %+v", early.Entity)
	}

	allExpired := strings.Replace(samlExpired, `<RoleDescriptor validUntil="`+future+`"`, `<RoleDescriptor validUntil="`+past+`"`, 1)
	signedAll, k := signVariant(t, allExpired, sigTmpl{c14n: algExcC14N, uri: "#"}, false)
	for _, entity := range []string{"", adfsEntityID} {
		_, err := ReadBytes(context.Background(), signedAll, ReadOptions{EntityID: entity, Now: testNow, Trust: pinned(k)})
		wantKind(t, err, KindExpired)
	}
	bad := strings.Replace(base, `<IDPSSODescriptor `, `<IDPSSODescriptor validUntil="soon" `, 1)
	_, err := ReadBytes(context.Background(), []byte(strings.Replace(bad, sigMarker, "", 1)), ReadOptions{Now: testNow})
	wantKind(t, err, KindNotMetadata)
}

// Class 4: a certificate directly in KeyInfo (not in X509Data) used to
// panic; it is not a KeyInfo certificate, and a pinned key still verifies.
func TestKeyInfoCertificateOutsideX509Data(t *testing.T) {
	xmlsecPath(t)
	signed, k := signVariant(t, plainEntity(t), sigTmpl{c14n: algExcC14N, uri: "#"}, false)
	moved := bytes.Replace(signed, []byte("<ds:X509Data>"), nil, 1)
	moved = bytes.Replace(moved, []byte("</ds:X509Data>"), nil, 1)
	d := mustRead(t, moved, ReadOptions{Trust: pinned(k)})
	if !d.Signature.Verified || len(d.Signature.KeyInfoCertificates) != 0 {
		t.Fatalf("signature %+v", d.Signature)
	}
	_, err := ReadBytes(context.Background(), moved, ReadOptions{Now: testNow, Trust: &TrustAnchor{SHA256: []string{k.sha256()}}})
	wantKind(t, err, KindSignature)
	// And inside an unknown KeyInfo child, and empty.
	for _, kiBody := range []string{`<ds:Foo><ds:X509Certificate>AAAA</ds:X509Certificate></ds:Foo>`, `<ds:X509Certificate/>`, `<ds:X509Data><ds:X509Certificate/></ds:X509Data>`} {
		loc := regexpKeyInfo.FindIndex(signed)
		doc := append(append(bytes.Clone(signed[:loc[0]]), "<ds:KeyInfo>"+kiBody+"</ds:KeyInfo>"...), signed[loc[1]:]...)
		if d := mustRead(t, doc, ReadOptions{Trust: pinned(k)}); !d.Signature.Verified {
			t.Fatal("not verified")
		}
	}
}

// Class 6: comments are never digested for a same-document reference ("",
// or "#id" as here), and processing instructions outside the root are
// digested under URI="" only.
func TestCommentsAndPIsOutsideTheDigest(t *testing.T) {
	xmlsecPath(t)
	doc := aggregateShaped(t) // has comments, and PIs before and after the root
	byID, k := signVariant(t, doc, sigTmpl{c14n: algExcC14NWithComment, uri: "#"}, false)
	expectVerdict(t, byID, k, true)
	expectVerdict(t, insertAfter(t, byID, "<!-- registered entities -->", "<!-- another -->"), k, true)
	expectVerdict(t, replaceOnce(t, byID, "<?before root?>", "<?before changed?>"), k, true)

	whole, k := signVariant(t, doc, sigTmpl{c14n: algC14N10WithComments}, false)
	expectVerdict(t, whole, k, true)
	expectVerdict(t, insertAfter(t, whole, "<!-- registered entities -->", "<!-- another -->"), k, true)
	expectVerdict(t, replaceOnce(t, whole, "<?before root?>", "<?before changed?>"), k, false)
	expectVerdict(t, replaceOnce(t, whole, "<?after root?>", "<?after root?>\n<?one more?>"), k, false)
	expectVerdict(t, replaceOnce(t, whole, "<!-- registered entities -->", "<!-- registered entities --><?pi?>"), k, false)
}

var regexpKeyInfo = regexp.MustCompile(`(?s)<ds:KeyInfo>.*?</ds:KeyInfo>`)

// Class 5: what must be held before the signature is checked is capped,
// with a typed refusal naming the limit.
func TestLimitsRefuseWithTypedError(t *testing.T) {
	signed := sign(t, fixtureAggregate(t, ""), key(t, "rsa-federation"), signOpts{})
	small := Limits{MaxDepth: 20, MaxAttributes: 40, MaxNamespaces: 6, MaxTokenBytes: 8 << 10, MaxSignatureBytes: 16 << 10, MaxSignatureNodes: 100}
	nested := func(n int) []byte {
		var b strings.Builder
		b.WriteString(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">`)
		for range n {
			b.WriteString(`<md:Extensions>`)
		}
		for range n {
			b.WriteString(`</md:Extensions>`)
		}
		b.WriteString(`</md:EntitiesDescriptor>`)
		return []byte(b.String())
	}
	attrs := func(n int) []byte {
		var b strings.Builder
		for i := range n {
			fmt.Fprintf(&b, ` a%d="%d"`, i, i)
		}
		return insertAfter(t, signed, `<md:EntityDescriptor`, b.String())
	}
	cases := []struct {
		name  string
		doc   []byte
		lim   Limits
		limit string
	}{
		{"nesting", nested(25), small, "MaxDepth"},
		{"namespaces in scope", insertAfter(t, signed, "<md:EntityDescriptor", ` xmlns:a="urn:a" xmlns:b="urn:b" xmlns:c="urn:c" xmlns:d="urn:d" xmlns:e="urn:e"`), Limits{MaxNamespaces: 6}, "MaxNamespaces"},
		{"nesting, default", nested(300), Limits{}, "MaxDepth"},
		{"attributes", attrs(50), small, "MaxAttributes"},
		{"attributes, default", attrs(2000), Limits{}, "MaxAttributes"},
		{"a long text", insertAfter(t, signed, `protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">`, strings.Repeat("x", 9<<10)), small, "MaxTokenBytes"},
		{"a long comment", insertAfter(t, signed, "<md:EntityDescriptor", "><!--"+strings.Repeat("x", 9<<10)+"--"), small, "MaxTokenBytes"},
		{"a long attribute value", insertAfter(t, signed, "<md:EntityDescriptor", ` x="`+strings.Repeat("x", 9<<10)+`"`), small, "MaxTokenBytes"},
		{"a long DTD", []byte(`<!DOCTYPE x [` + strings.Repeat(" ", 9<<10) + `]><x/>`), small, "MaxTokenBytes"},
		{"a large signature", insertAfter(t, signed, "<ds:KeyInfo>", strings.Repeat("<ds:KeyName>"+strings.Repeat("k", 4000)+"</ds:KeyName>", 5)), small, "MaxSignatureBytes"},
		{"a signature of many nodes", insertAfter(t, signed, "<ds:KeyInfo>", strings.Repeat("<ds:KeyName/>", 101)), small, "MaxSignatureNodes"},
		{"much before the signature", replaceOnce(t, signed, "<ds:Signature", strings.Repeat("<!---->", 101)+"<ds:Signature"), small, "MaxSignatureNodes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadBytes(context.Background(), c.doc, ReadOptions{Now: testNow, EntityID: partnerID, Trust: key(t, "rsa-federation").trust(), Limits: c.lim})
			wantKind(t, err, KindLimit)
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != c.limit {
				t.Fatalf("got %v, want the limit %s named", err, c.limit)
			}
			if !strings.Contains(err.Error(), c.limit) {
				t.Fatalf("message %q does not name %s", err, c.limit)
			}
		})
	}
	// The fixture itself passes the small limits.
	if _, err := ReadBytes(context.Background(), signed, ReadOptions{Now: testNow, EntityID: partnerID, Trust: key(t, "rsa-federation").trust(), Limits: small}); err != nil {
		t.Fatal(err)
	}
}

// endless is an EntityDescriptor that never ends.
type endless struct{ head []byte }

func (e *endless) Read(p []byte) (int, error) {
	const unit = "<md:Extensions/>"
	n := 0
	if len(e.head) > 0 {
		n = copy(p, e.head)
		e.head = e.head[n:]
	}
	for n+len(unit) <= len(p) {
		n += copy(p[n:], unit)
	}
	return n, nil
}

// Class 5: a context deadline stops a read that would never end.
func TestReadStopsAtTheContextDeadline(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := &endless{head: []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:x">`)}
	_, err := Read(ctx, r, ReadOptions{Now: testNow})
	wantKind(t, err, KindCanceled)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want DeadlineExceeded as the cause", err)
	}
	cancelled, stop := context.WithCancel(context.Background())
	stop()
	_, err = ReadBytes(cancelled, []byte(plainEntity(t)), ReadOptions{Now: testNow})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// Class 5: the inputs that used to cost quadratic time still read right
// (their speed is in the benchmarks, BenchmarkHostile).
func TestHostileShapesReadCorrectly(t *testing.T) {
	for _, h := range hostileDocs(t, 200<<10) {
		t.Run(h.name, func(t *testing.T) {
			d, err := ReadBytes(context.Background(), h.doc, h.opts)
			if err := h.check(d, err); err != nil {
				t.Fatal(err)
			}
		})
	}
}
