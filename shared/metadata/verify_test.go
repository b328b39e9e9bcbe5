package metadata

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

const (
	rsaSHA1   = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
	rsaSHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	rsaSHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
	rsaSHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
	ecSHA256  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
	ecSHA384  = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384"
)

// fixtureAggregate is a three-entity aggregate whose middle entity is the
// partner.
func fixtureAggregate(t testing.TB, attrs string) string {
	partner := key(t, "rsa-partner")
	return aggregate(attrs,
		idp{id: "https://idp.one.example/idp", certs: []*testKey{key(t, "rsa-one")}, sso: "https://idp.one.example/sso"}.xml(),
		idp{id: "https://idp.partner.example/idp", certs: []*testKey{partner}, sso: "https://idp.partner.example/sso", passive: "https://idp.partner.example/wsfed"}.xml(),
		idp{id: "https://idp.three.example/idp", certs: []*testKey{key(t, "rsa-three")}, sso: "https://idp.three.example/sso"}.xml(),
	)
}

const partnerID = "https://idp.partner.example/idp"

func TestSignedFixturesVerify(t *testing.T) {
	signer := key(t, "rsa-federation")
	ec := key(t, "ec-federation")
	doc := fixtureAggregate(t, "")
	cases := []struct {
		name string
		key  *testKey
		o    signOpts
	}{
		{"rsa-sha256 exc-c14n", signer, signOpts{method: rsaSHA256}},
		{"rsa-sha384", signer, signOpts{method: rsaSHA384}},
		{"rsa-sha512", signer, signOpts{method: rsaSHA512}},
		{"ecdsa-sha256", ec, signOpts{method: ecSHA256}},
		{"ecdsa-sha384", ec, signOpts{method: ecSHA384}},
		{"inclusive c14n 1.0", signer, signOpts{method: rsaSHA256, c14n: dsig.MakeC14N10RecCanonicalizer()}},
		{"c14n 1.1", signer, signOpts{method: rsaSHA256, c14n: dsig.MakeC14N11Canonicalizer()}},
		{"exc-c14n with comments", signer, signOpts{method: rsaSHA256, c14n: dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")}},
		// (No signed PrefixList case: goxmldsig signs with a prefix list
		// but does not write the InclusiveNamespaces element. The prefix
		// list itself is covered by TestCanonicalizerMatchesGoxmldsig.)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			signed := sign(t, doc, tc.key, tc.o)
			d := mustRead(t, signed, ReadOptions{EntityID: partnerID, Trust: tc.key.trust()})
			if !d.Signature.Signed || !d.Signature.Verified {
				t.Fatalf("signature status %+v, want signed and verified", d.Signature)
			}
			if d.Signature.Signer == nil || d.Signature.Signer.SHA256 != tc.key.sha256() {
				t.Fatalf("signer %+v, want %s", d.Signature.Signer, tc.key.sha256())
			}
			if d.Entity.EntityID != partnerID || d.EntityCount != 3 {
				t.Fatalf("entity %q of %d, want %q of 3", d.Entity.EntityID, d.EntityCount, partnerID)
			}
			if d.Signature.ReferenceURI != "#agg" {
				t.Fatalf("reference %q", d.Signature.ReferenceURI)
			}
		})
	}
}

func TestFingerprintPinUsesKeyInfoCertificate(t *testing.T) {
	signer := key(t, "rsa-federation")
	signed := sign(t, fixtureAggregate(t, ""), signer, signOpts{})
	colons := strings.Join(splitEvery(strings.ToLower(signer.sha256()), 2), ":")
	d := mustRead(t, signed, ReadOptions{EntityID: partnerID, Trust: &TrustAnchor{SHA256: []string{colons}, RequireSignature: true}})
	if !d.Signature.Verified || d.Signature.Signer.SHA256 != signer.sha256() {
		t.Fatalf("status %+v", d.Signature)
	}
	// A fingerprint of another certificate must not let the KeyInfo
	// certificate in.
	other := key(t, "rsa-other")
	_, err := ReadBytes(context.Background(), signed, ReadOptions{EntityID: partnerID, Now: testNow, Trust: &TrustAnchor{SHA256: []string{other.sha256()}}})
	wantKind(t, err, KindSignature)
	if !strings.Contains(err.Error(), signer.sha256()) {
		t.Fatalf("error should name the untrusted signer: %v", err)
	}
}

func splitEvery(s string, n int) []string {
	var out []string
	for len(s) > n {
		out, s = append(out, s[:n]), s[n:]
	}
	return append(out, s)
}

func TestPinnedCertificateDatesDoNotFailVerification(t *testing.T) {
	old := keyValid(t, "rsa-expired-signer", testNow.AddDate(-5, 0, 0), 365)
	signed := sign(t, fixtureAggregate(t, ""), old, signOpts{})
	d := mustRead(t, signed, ReadOptions{EntityID: partnerID, Trust: old.trust()})
	if !d.Signature.Verified {
		t.Fatal("an expired pinned certificate must still verify (Shibboleth behaviour)")
	}
	if !d.Signature.Signer.NotAfter.Before(testNow) {
		t.Fatalf("signer notAfter %v should be reported as past", d.Signature.Signer.NotAfter)
	}
}

func TestSignatureRefusals(t *testing.T) {
	signer := key(t, "rsa-federation")
	doc := fixtureAggregate(t, "")
	signed := sign(t, doc, signer, signOpts{})
	trust := signer.trust()
	read := func(b []byte, tr *TrustAnchor) error {
		_, err := ReadBytes(context.Background(), b, ReadOptions{EntityID: partnerID, Trust: tr, Now: testNow})
		return err
	}
	if err := read(signed, trust); err != nil {
		t.Fatalf("baseline must verify: %v", err)
	}

	t.Run("one changed byte", func(t *testing.T) {
		i := bytes.Index(signed, []byte("https://idp.partner.example/sso"))
		tampered := bytes.Clone(signed)
		tampered[i+8] = 'X' // idp.partner → iXp.partner
		err := read(tampered, trust)
		wantKind(t, err, KindSignature)
		if !strings.Contains(err.Error(), "digest mismatch") {
			t.Fatalf("want a digest mismatch, got %v", err)
		}
	})

	t.Run("duplicated entity inside the signed root", func(t *testing.T) {
		evil := idp{id: partnerID, certs: []*testKey{key(t, "rsa-attacker")}, sso: "https://evil.example/sso"}.xml()
		i := bytes.Index(signed, []byte("<md:EntityDescriptor"))
		wrapped := append(append(bytes.Clone(signed[:i]), evil+"\n"...), signed[i:]...)
		err := read(wrapped, trust)
		wantKind(t, err, KindSignature) // signature first: nothing of it can be trusted
		// Unverified, the same document is refused as ambiguous.
		_, err = ReadBytes(context.Background(), wrapped, ReadOptions{EntityID: partnerID, Now: testNow})
		wantKind(t, err, KindAmbiguousEntity)
	})

	t.Run("signed document wrapped in an unsigned root", func(t *testing.T) {
		evil := idp{id: partnerID, certs: []*testKey{key(t, "rsa-attacker")}, sso: "https://evil.example/sso"}.xml()
		inner := signed[bytes.Index(signed, []byte("<md:EntitiesDescriptor")):]
		wrapped := []byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="agg">` + evil + string(inner) + `</md:EntitiesDescriptor>`)
		wantKind(t, read(wrapped, trust), KindUnsigned)
	})

	t.Run("signature copied onto a forged root with the same ID", func(t *testing.T) {
		sigStart := bytes.Index(signed, []byte("<ds:Signature"))
		sigEnd := bytes.Index(signed, []byte("</ds:Signature>")) + len("</ds:Signature>")
		evil := idp{id: partnerID, certs: []*testKey{key(t, "rsa-attacker")}, sso: "https://evil.example/sso"}.xml()
		forged := []byte(aggregate("", "__SIG__", evil))
		forged = bytes.Replace(forged, []byte("__SIG__"), signed[sigStart:sigEnd], 1)
		wantKind(t, read(forged, trust), KindSignature)
	})

	t.Run("second signature on the root", func(t *testing.T) {
		sigStart := bytes.Index(signed, []byte("<ds:Signature"))
		sigEnd := bytes.Index(signed, []byte("</ds:Signature>")) + len("</ds:Signature>")
		twice := append(append(bytes.Clone(signed[:sigEnd]), signed[sigStart:sigEnd]...), signed[sigEnd:]...)
		err := read(twice, trust)
		wantKind(t, err, KindSignature)
		if !strings.Contains(err.Error(), "second or misplaced") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("signature not the first child", func(t *testing.T) {
		last := sign(t, doc, signer, signOpts{last: true})
		wantKind(t, read(last, trust), KindSignature)
	})

	t.Run("reference to an element other than the root", func(t *testing.T) {
		other := bytes.Replace(signed, []byte(`URI="#agg"`), []byte(`URI="#someEntity"`), 1)
		err := read(other, trust)
		wantKind(t, err, KindSignature)
		if !strings.Contains(err.Error(), "does not name the root") {
			t.Fatalf("got %v", err)
		}
	})

	t.Run("SHA-1 refused unless allowed", func(t *testing.T) {
		sha1Signed := sign(t, doc, signer, signOpts{method: rsaSHA1})
		err := read(sha1Signed, trust)
		wantKind(t, err, KindSignature)
		if !errors.Is(err, ErrSHA1) {
			t.Fatalf("want ErrSHA1, got %v", err)
		}
		allow := *trust
		allow.AllowSHA1 = true
		if err := read(sha1Signed, &allow); err != nil {
			t.Fatalf("with AllowSHA1: %v", err)
		}
	})

	t.Run("untrusted signer", func(t *testing.T) {
		err := read(signed, key(t, "rsa-other").trust())
		wantKind(t, err, KindSignature)
	})

	t.Run("unsigned when required", func(t *testing.T) {
		wantKind(t, read([]byte(doc), trust), KindUnsigned)
		notRequired := *trust
		notRequired.RequireSignature = false
		d, err := ReadBytes(context.Background(), []byte(doc), ReadOptions{EntityID: partnerID, Trust: &notRequired, Now: testNow})
		if err != nil || d.Signature.Signed || d.Signature.Verified {
			t.Fatalf("unsigned, not required: %v %+v", err, d)
		}
	})
}

func TestExpiredValidUntilRefused(t *testing.T) {
	signer := key(t, "rsa-federation")
	past := testNow.Add(-time.Hour).Format(time.RFC3339)
	future := testNow.Add(time.Hour).Format(time.RFC3339)
	entityExpired := aggregate(` validUntil="`+future+`"`,
		idp{id: partnerID, certs: []*testKey{key(t, "rsa-partner")}, sso: "https://p/sso", validUntil: past}.xml())
	nested := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="agg"><md:EntitiesDescriptor validUntil="` + past + `">` +
		idp{id: partnerID, certs: []*testKey{key(t, "rsa-partner")}, sso: "https://p/sso"}.xml() + `</md:EntitiesDescriptor></md:EntitiesDescriptor>`
	for name, doc := range map[string]string{
		"root":   fixtureAggregate(t, ` validUntil="`+past+`"`),
		"entity": entityExpired,
		"nested": nested,
	} {
		t.Run(name, func(t *testing.T) {
			signed := sign(t, doc, signer, signOpts{})
			_, err := ReadBytes(context.Background(), signed, ReadOptions{EntityID: partnerID, Trust: signer.trust(), Now: testNow})
			wantKind(t, err, KindExpired)
			if !errors.Is(err, &Error{Kind: KindExpired}) || errors.Is(err, &Error{Kind: KindSignature}) {
				t.Fatalf("errors.Is by kind: %v", err)
			}
			// The same document read an hour and a half earlier is fine.
			d := mustRead(t, signed, ReadOptions{EntityID: partnerID, Trust: signer.trust(), Now: testNow.Add(-90 * time.Minute)})
			if d.Entity.ValidUntil == nil || d.Entity.ValidUntil.Format(time.RFC3339) != past {
				t.Fatalf("validUntil %v, want %s", d.Entity.ValidUntil, past)
			}
		})
	}
}

// canonicalRoot runs the streaming canonicaliser over a whole document's
// root element.
func canonicalRoot(t *testing.T, doc []byte, mode c14nMode) []byte {
	t.Helper()
	var out bytes.Buffer
	canonicalizeTo(t, doc, mode, &out)
	return out.Bytes()
}

func canonicalizeTo(tb testing.TB, doc []byte, mode c14nMode, w io.Writer) {
	tb.Helper()
	out, err := canonicalDocument(doc, mode, canonOpts{})
	if err != nil {
		tb.Fatal(err)
	}
	w.Write(out)
}

// TestCanonicalizerMatchesGoxmldsig compares the streaming canonicaliser
// with goxmldsig's on documents that exercise namespace rendering,
// attribute order, escaping, comments and processing instructions.
func TestCanonicalizerMatchesGoxmldsig(t *testing.T) {
	docs := []string{
		`<a:r xmlns:a="urn:a" xmlns:b="urn:b" xmlns="urn:d" z="1" b:y="2" a:x="3"><c b:q="x"><d xmlns="">t&amp;&lt;&gt;"'</d><a:e xmlns:a="urn:a2"/></c></a:r>`,
		`<r xmlns="urn:x" xmlns:unused="urn:u"><!-- c1 --><?pi data?><s attr="a&#9;b&#10;c&#13;d&quot;e&lt;&amp;">x&#13;y</s><![CDATA[<cdata & more>]]></r>`,
		`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xml:lang="en"><md:EntityDescriptor entityID="e" xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"><md:X xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:Y/></md:X></md:EntityDescriptor></md:EntitiesDescriptor>`,
		`<p:r xmlns:p="urn:p"><p:c xmlns:p="urn:other"><p:d xmlns:p="urn:p"/></p:c><x:q xmlns:x="urn:x" xmlns:p="urn:p" x:b="1" p:a="2"/></p:r>`,
	}
	type mode struct {
		name string
		mine c14nMode
		lib  dsig.Canonicalizer
	}
	modes := []mode{
		{"exc", c14nMode{exclusive: true}, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")},
		{"exc+comments", c14nMode{exclusive: true, comments: true}, dsig.MakeC14N10ExclusiveWithCommentsCanonicalizerWithPrefixList("")},
		{"exc prefixlist", c14nMode{exclusive: true, inclusivePrefixes: []string{"unused", "b"}}, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("unused b")},
		{"inclusive", c14nMode{}, dsig.MakeC14N10RecCanonicalizer()},
		{"inclusive+comments", c14nMode{comments: true}, dsig.MakeC14N10WithCommentsCanonicalizer()},
	}
	for i, doc := range docs {
		for _, m := range modes {
			d := etree.NewDocument()
			if err := d.ReadFromString(doc); err != nil {
				t.Fatal(err)
			}
			want, err := m.lib.Canonicalize(d.Root())
			if err != nil {
				t.Fatal(err)
			}
			got := canonicalRoot(t, []byte(doc), m.mine)
			if !bytes.Equal(got, want) {
				t.Errorf("doc %d, %s:\n got %s\nwant %s", i, m.name, got, want)
			}
		}
	}

	// goxmldsig orders prefixed attributes by prefix when the prefixes
	// differ; C14N orders them by namespace URI, then local name
	// (urn:p < urn:x below although x < y), as the spec says.
	const byURI = `<y:r xmlns:x="urn:x" xmlns:y="urn:p" y:b="2" x:a="1"></y:r>`
	for _, m := range modes {
		if got := canonicalRoot(t, []byte(`<y:r xmlns:y="urn:p" xmlns:x="urn:x" x:a="1" y:b="2"/>`), m.mine); string(got) != byURI {
			t.Errorf("%s: attributes must be ordered by namespace URI: got %s, want %s", m.name, got, byURI)
		}
	}
}

// TestVerdictMatchesGoxmldsig checks on generated documents that our
// verifier and goxmldsig's agree, both on a good signature and on a
// tampered one.
func TestVerdictMatchesGoxmldsig(t *testing.T) {
	signer := key(t, "rsa-federation")
	signed := sign(t, fixtureAggregate(t, ""), signer, signOpts{c14n: dsig.MakeC14N10RecCanonicalizer()})
	tampered := bytes.Replace(signed, []byte("idp.three.example/sso"), []byte("idp.three.example/ssp"), 1)
	for name, doc := range map[string][]byte{"good": signed, "tampered": tampered} {
		_, mine := ReadBytes(context.Background(), doc, ReadOptions{EntityID: partnerID, Trust: signer.trust(), Now: testNow})
		theirs := goxmldsigValidate(t, doc, signer.cert)
		if (mine == nil) != (theirs == nil) {
			t.Errorf("%s: ours %v, goxmldsig %v", name, mine, theirs)
		}
	}
}

func goxmldsigValidate(t testing.TB, doc []byte, cert *x509.Certificate) error {
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		return err
	}
	ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
	ctx.Clock = dsig.NewFakeClockAt(cert.NotBefore.Add(time.Hour))
	_, err := ctx.Validate(d.Root())
	return err
}
