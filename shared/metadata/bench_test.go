package metadata

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
)

// Benchmarks (see doc.go for the figures):
//
//	go test -run='^$' -bench='FindAndVerifyAggregate|FullDOMParse' -benchmem -benchtime=5x ./shared/metadata/
//	go test -run='^$' -bench=GoxmldsigValidateAggregate -benchmem -benchtime=1x ./shared/metadata/
//
// The 10,000-entity aggregate (~47 MB) is generated once per process, in
// about 1.5 s.

const benchEntities = 10_000

var (
	bigOnce   sync.Once
	bigDoc    []byte
	bigSigner *testKey
)

// benchTarget is an entity near the end, so the whole document is read.
var benchTarget = fmt.Sprintf("https://idp%05d.example.org/idp/shibboleth", benchEntities-7)

// bigAggregate returns a signed aggregate of benchEntities entities, each
// with the shape of a real Shibboleth IdP (two signing certificates, an
// encryption certificate, SSO endpoints, mdui, organisation, contact),
// signed with exclusive C14N and RSA-SHA256. With
// IDPKEEPER_BENCH_AGGREGATE_OUT=FILE it also writes the document to FILE and
// the signer's SHA-256 fingerprint to FILE.sha256, for measuring peak memory
// in a separate process.
func bigAggregate(tb testing.TB) ([]byte, *testKey) {
	bigOnce.Do(func() {
		bigSigner = key(tb, "rsa-federation")
		certs := []*testKey{key(tb, "rsa-one"), key(tb, "rsa-three"), key(tb, "rsa-partner")}
		bigDoc = generateSignedAggregate(tb, benchEntities, bigSigner, certs)
		if out := os.Getenv("IDPKEEPER_BENCH_AGGREGATE_OUT"); out != "" {
			if err := os.WriteFile(out, bigDoc, 0o600); err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(out+".sha256", []byte(bigSigner.sha256()+"\n"), 0o600); err != nil {
				tb.Fatal(err)
			}
		}
	})
	return bigDoc, bigSigner
}

func generateSignedAggregate(tb testing.TB, n int, signer *testKey, certs []*testKey) []byte {
	var body bytes.Buffer
	body.Grow(n * 5200)
	kd := func(use string, k *testKey) string {
		return `<md:KeyDescriptor use="` + use + `"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + "\n" +
			wrap64(k.b64()) + "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>\n"
	}
	keys := kd("signing", certs[0]) + kd("signing", certs[1]) + kd("encryption", certs[2])
	for i := range n {
		host := fmt.Sprintf("idp%05d.example.org", i)
		fmt.Fprintf(&body, `<md:EntityDescriptor entityID="https://%[1]s/idp/shibboleth">
<md:Extensions><mdrpi:RegistrationInfo registrationAuthority="urn:test:federation" registrationInstant="2020-01-01T00:00:00Z"/></md:Extensions>
<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:Extensions><shibmd:Scope regexp="false">%[1]s</shibmd:Scope><mdui:UIInfo><mdui:DisplayName xml:lang="en">Example University %[2]d &amp; Partners</mdui:DisplayName><mdui:Description xml:lang="en">Identity provider number %[2]d of the generated benchmark federation.</mdui:Description><mdui:Logo height="64" width="64">https://%[1]s/logo.png</mdui:Logo></mdui:UIInfo></md:Extensions>
%[3]s<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://%[1]s/idp/profile/SAML2/POST/SSO"/>
<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://%[1]s/idp/profile/SAML2/Redirect/SSO"/>
</md:IDPSSODescriptor>
<md:Organization><md:OrganizationName xml:lang="en">Example University %[2]d</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">Example University %[2]d</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://www.%[1]s/</md:OrganizationURL></md:Organization>
<md:ContactPerson contactType="technical"><md:GivenName>Ops</md:GivenName><md:EmailAddress>mailto:ops@%[1]s</md:EmailAddress></md:ContactPerson>
</md:EntityDescriptor>
`, host, i, keys)
	}
	open := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" ID="agg" Name="urn:test:federation" cacheDuration="PT6H">`
	const closeTag = "</md:EntitiesDescriptor>\n"
	unsigned := "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" + open + "\n" + body.String() + closeTag

	// Digest: exclusive C14N of the root without the signature, computed
	// by the same streaming canonicaliser that verifies (it is checked
	// against goxmldsig in TestCanonicalizerMatchesGoxmldsig, and the
	// signed output against goxmldsig's verifier in
	// TestGeneratedAggregateVerifiesWithGoxmldsig).
	h := sha256.New()
	canonicalizeTo(tb, []byte(unsigned), c14nMode{exclusive: true}, h)
	digest := base64.StdEncoding.EncodeToString(h.Sum(nil))

	const ds = "http://www.w3.org/2000/09/xmldsig#"
	signedInfo := `<ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:CanonicalizationMethod><ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"></ds:SignatureMethod><ds:Reference URI="#agg"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"></ds:Transform><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"></ds:Transform></ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"></ds:DigestMethod><ds:DigestValue>` + digest + `</ds:DigestValue></ds:Reference></ds:SignedInfo>`
	// The canonical SignedInfo declares ds itself (it is the apex).
	canonical := strings.Replace(signedInfo, "<ds:SignedInfo>", `<ds:SignedInfo xmlns:ds="`+ds+`">`, 1)
	sum := sha256.Sum256([]byte(canonical))
	sig, err := signer.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		tb.Fatal(err)
	}
	signature := `<ds:Signature>` + signedInfo + `<ds:SignatureValue>` + base64.StdEncoding.EncodeToString(sig) +
		`</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + signer.b64() + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>`
	return []byte(strings.Replace(unsigned, open, open+signature, 1))
}

func wrap64(s string) string {
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64])
		b.WriteByte('\n')
		s = s[64:]
	}
	b.WriteString(s)
	b.WriteByte('\n')
	return b.String()
}

func TestGeneratedAggregateVerifiesWithGoxmldsig(t *testing.T) {
	signer := key(t, "rsa-federation")
	doc := generateSignedAggregate(t, 50, signer, []*testKey{key(t, "rsa-one"), key(t, "rsa-three"), key(t, "rsa-partner")})
	if err := goxmldsigValidate(t, doc, signer.cert); err != nil {
		t.Fatalf("goxmldsig refuses the generator's signature: %v", err)
	}
	target := "https://idp00042.example.org/idp/shibboleth"
	d := mustRead(t, doc, ReadOptions{EntityID: target, Trust: signer.trust()})
	if !d.Signature.Verified || d.EntityCount != 50 || len(d.Entity.SAML.SigningCertificates) != 2 {
		t.Fatalf("%+v", d)
	}
	tampered := bytes.Replace(doc, []byte("Identity provider number 7 "), []byte("Identity provider number 8 "), 1)
	if _, err := ReadBytes(context.Background(), tampered, ReadOptions{EntityID: target, Trust: signer.trust(), Now: testNow}); KindOf(err) != KindSignature {
		t.Fatalf("tampered: %v", err)
	}
}

func BenchmarkFindAndVerifyAggregate(b *testing.B) {
	doc, signer := bigAggregate(b)
	file := filepath.Join(b.TempDir(), "aggregate.xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		b.Fatal(err)
	}
	opts := ReadOptions{EntityID: benchTarget, Trust: signer.trust(), Now: testNow}
	check := func(d *Document, err error) {
		if err != nil || !d.Signature.Verified || d.Entity.EntityID != benchTarget || d.EntityCount != benchEntities {
			b.Fatalf("%v %+v", err, d)
		}
	}
	// cpu-MB/s is bytes per CPU second of this process (GC included): on
	// a shared machine a steadier figure than MB/s.
	cpuRate := func(b *testing.B, cpu0 time.Duration) {
		b.ReportMetric(float64(len(doc))*float64(b.N)/(processCPU()-cpu0).Seconds()/1e6, "cpu-MB/s")
	}
	b.Run("bytes", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			check(ReadBytes(context.Background(), doc, opts))
		}
		cpuRate(b, cpu0)
	})
	b.Run("file", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		b.ReportAllocs()
		cpu0 := processCPU()
		for b.Loop() {
			f, err := os.Open(file)
			if err != nil {
				b.Fatal(err)
			}
			check(Read(context.Background(), f, opts))
			f.Close()
		}
		cpuRate(b, cpu0)
	})
}

func BenchmarkFullDOMParse(b *testing.B) {
	doc, _ := bigAggregate(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		d := etree.NewDocument()
		if err := d.ReadFromBytes(doc); err != nil {
			b.Fatal(err)
		}
		if d.Root().FindElement(fmt.Sprintf("./EntityDescriptor[@entityID='%s']", benchTarget)) == nil {
			b.Fatal("entity not found")
		}
	}
}

// BenchmarkGoxmldsigValidateAggregate is the library route, for comparison:
// etree DOM plus goxmldsig's Validate. Run it with -benchtime=1x.
func BenchmarkGoxmldsigValidateAggregate(b *testing.B) {
	doc, signer := bigAggregate(b)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if err := goxmldsigValidate(b, doc, signer.cert); err != nil {
			b.Fatal(err)
		}
	}
}
