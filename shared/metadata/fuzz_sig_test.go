package metadata

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Per-input budgets of the fuzz targets: every input, however hostile, is
// read or refused within these (the outside checks allow 5 s and 1 GiB).
const (
	fuzzTimeBudget = 5 * time.Second
	fuzzMemFixed   = 256 << 20 // bytes allocated, plus fuzzMemPerByte per input byte
	fuzzMemPerByte = 32
)

// budgetedRead is read() under the per-input budgets: a deadline on the
// context, and the bytes allocated while reading.
func budgetedRead(t *testing.T, doc []byte, opts ReadOptions) (*Document, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fuzzTimeBudget)
	defer cancel()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	d, err := read(ctx, bytes.NewReader(doc), opts)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if KindOf(err) == KindCanceled || elapsed > fuzzTimeBudget {
		t.Fatalf("reading %d bytes took %v (budget %v)", len(doc), elapsed, fuzzTimeBudget)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > fuzzMemFixed+fuzzMemPerByte*uint64(len(doc)) {
		t.Fatalf("reading %d bytes allocated %d bytes (budget %d)", len(doc), alloc, fuzzMemFixed+fuzzMemPerByte*uint64(len(doc)))
	}
	if err != nil && KindOf(err) == "" {
		t.Fatalf("untyped error %T: %v", err, err)
	}
	return d, err
}

// The canonicalisations, signature and digest methods the signing fuzz
// targets choose from.
var fuzzC14N = []sigTmpl{
	{c14n: algExcC14N},
	{c14n: algExcC14NWithComment},
	{c14n: algExcC14N, prefixList: "xsi fed #default"},
	{c14n: algC14N10},
	{c14n: algC14N10WithComments},
	{c14n: algC14N11},
}

var rootIDPattern = regexp.MustCompile(`^[^>]*?\sID="([A-Za-z_][A-Za-z0-9_.-]*)"`)

// rootID finds the ID attribute of the root start tag (the first tag that
// is not a declaration, comment or PI) in a template.
func rootID(doc string) string {
	for i := 0; i < len(doc); i++ {
		if doc[i] == '<' && i+1 < len(doc) && doc[i+1] != '?' && doc[i+1] != '!' {
			if m := rootIDPattern.FindStringSubmatch(doc[i:]); m != nil {
				return m[1]
			}
			return ""
		}
	}
	return ""
}

// nsMutations are namespace declarations a forger inserts: each is dropped
// or rendered elsewhere by some canonicalisation, so it may leave a digest
// unchanged while changing what a careless reader sees.
var nsMutations = []string{
	` xmlns:fed="urn:evil"`,
	` xmlns:fed="http://docs.oasis-open.org/wsfed/federation/200706"`,
	` xmlns:md=""`,
	` xmlns:x=""`,
	` xmlns=""`,
	` xmlns="urn:oasis:names:tc:SAML:2.0:metadata"`,
	` xmlns:xsi="urn:evil"`,
	` xmlns:ds="urn:evil"`,
	` xmlns:t="http://docs.oasis-open.org/wsfed/federation/200706"`,
	` xmlns:xml="urn:evil"`,
	` xmlns:p="http://www.w3.org/XML/1998/namespace"`,
	` xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"`,
}

// mutate applies one post-signing change chosen by m to a signed document.
func mutate(doc []byte, m uint32) []byte {
	if len(doc) == 0 {
		return doc
	}
	kind, arg := m%8, int(m>>3)
	var tags []int // offsets of '>' closing start tags
	for i := 1; i < len(doc); i++ {
		if doc[i] == '>' && doc[i-1] != '/' && doc[i-1] != '?' && doc[i-1] != '-' {
			tags = append(tags, i)
		}
	}
	insert := func(at int, s string) []byte {
		return append(append(bytes.Clone(doc[:at]), s...), doc[at:]...)
	}
	if len(tags) == 0 {
		return doc
	}
	at := tags[arg%len(tags)]
	switch kind {
	case 1, 2, 3:
		return insert(at, nsMutations[(arg/len(tags)+int(kind))%len(nsMutations)])
	case 4:
		return insert(at+1, "<!-- inserted -->")
	case 5:
		return insert(at+1, "<?inserted pi?>")
	case 6:
		out := bytes.Clone(doc)
		out[arg%len(out)] ^= byte(1 << (arg % 7))
		return out
	case 7:
		return insert(at, "\n\t ")
	}
	return doc
}

// stricterReason says whether our refusal of a document xmlsec1 accepts is
// one this package documents as deliberate (doc.go "Stricter than
// xmlsec1"), and which.
func stricterReason(err error) (string, bool) {
	var e *Error
	if !errors.As(err, &e) {
		return "", false
	}
	switch e.Kind {
	case KindLimit, KindNotMetadata, KindUnsigned, KindExpired, KindEntityNotFound, KindAmbiguousEntity:
		return string(e.Kind), true
	case KindNotXML:
		// Not well-formed or namespace-well-formed to encoding/xml and
		// checkNames (stricter than libxml2 in places: XML 1.1
		// declarations, encodings other than UTF-8, DTDs).
		return "not-xml", true
	case KindSignature:
		if errors.Is(err, ErrSHA1) {
			return "sha1", true
		}
		for _, s := range []string{"second or misplaced", "References", "does not name the root", "unsupported",
			"lacks the enveloped", "xsi:type", "must have one", "unexpected", "Reference has no URI", "repeated"} {
			if strings.Contains(e.Detail, s) {
				return s, true
			}
		}
	}
	return "", false
}

// FuzzDifferentialXMLSec compares our signature verdict with xmlsec1's. A
// template (with sigMarker) is signed by xmlsec1 with the canonicalisation,
// signature method and reference chosen by variant, then changed after
// signing as mut says (namespace declarations, comments, PIs, a flipped
// bit, whitespace). Our verifier must accept exactly what xmlsec1 accepts,
// except for the refusals stricterReason documents; it must never accept
// what xmlsec1 refuses. Skipped (with a message) where xmlsec1 is absent.
func FuzzDifferentialXMLSec(f *testing.F) {
	for i, tmpl := range fuzzTemplates(f) {
		for v := range 6 {
			f.Add([]byte(tmpl), uint16(v+6*i), uint32(0))
			f.Add([]byte(tmpl), uint16(v), uint32(8*i+1))
		}
	}
	rsaKey, ecKey := key(f, "rsa-federation"), key(f, "ec-federation")
	f.Fuzz(func(t *testing.T, tmpl []byte, variant uint16, mut uint32) {
		xmlsecPath(t)
		if !bytes.Contains(tmpl, []byte(sigMarker)) || len(tmpl) > 1<<20 {
			return
		}
		s := fuzzC14N[int(variant)%len(fuzzC14N)]
		k := rsaKey
		switch (variant / 8) % 4 {
		case 1:
			s.method, s.digest = rsaSHA512URI, digestSHA512
		case 2:
			k, s.method = ecKey, ecSHA256
		case 3:
			k, s.method, s.digest = ecKey, ecSHA512, digestSHA512
		}
		if id := rootID(string(tmpl)); id != "" && variant&64 == 0 {
			s.uri = "#" + id
		}
		signed, ok, _ := xmlsecSign(t, []byte(withSignature(string(tmpl), s)), k)
		if !ok {
			return // libxml2 could not read it: nothing signed to compare
		}
		doc := signed
		if mut%8 != 0 {
			doc = mutate(signed, mut)
		}
		theirs, log := xmlsecVerify(t, doc, k)
		d, err := budgetedRead(t, doc, ReadOptions{Now: testNow, Trust: &TrustAnchor{Certificates: []*x509.Certificate{k.cert}, RequireSignature: true}})
		ours := d != nil && d.Signature.Verified
		switch {
		case ours && !theirs:
			t.Fatalf("we verify a signature xmlsec1 refuses (%v)\nxmlsec1: %s\ndocument:\n%s", err, log, doc)
		case theirs && !ours:
			if _, ok := stricterReason(err); !ok {
				t.Fatalf("xmlsec1 verifies, we refuse without a documented reason: %v\ndocument:\n%s", err, doc)
			}
		}
	})
}

// ourSigned signs a template (with sigMarker) with this package's own
// canonicaliser and an ECDSA key: SignedInfo in Exclusive C14N, the
// Reference transform as s says. It returns nil when the canonicaliser
// refuses the template.
func ourSigned(t testing.TB, tmpl string, s sigTmpl, k *testKey) []byte {
	unsigned := strings.Replace(tmpl, sigMarker, "", 1)
	mode, ok := modeFor(s.c14n, s.prefixList)
	if !ok {
		t.Fatalf("mode %q", s.c14n)
	}
	mode.comments = false // a same-document reference drops comments
	canonical, err := canonicalDocument([]byte(unsigned), mode, canonOpts{wholeDocument: s.uri == ""})
	if err != nil {
		return nil
	}
	digest := sha256.Sum256(canonical)
	incl := ""
	if s.prefixList != "" {
		incl = `<ec:InclusiveNamespaces xmlns:ec="` + nsExcC + `" PrefixList="` + s.prefixList + `"></ec:InclusiveNamespaces>`
	}
	signedInfo := `<ds:SignedInfo xmlns:ds="` + nsDS + `"><ds:CanonicalizationMethod Algorithm="` + algExcC14N + `"></ds:CanonicalizationMethod>` +
		`<ds:SignatureMethod Algorithm="` + ecSHA256 + `"></ds:SignatureMethod><ds:Reference URI="` + s.uri + `"><ds:Transforms>` +
		`<ds:Transform Algorithm="` + algEnveloped + `"></ds:Transform><ds:Transform Algorithm="` + s.c14n + `">` + incl + `</ds:Transform>` +
		`</ds:Transforms><ds:DigestMethod Algorithm="` + digestSHA256 + `"></ds:DigestMethod><ds:DigestValue>` +
		base64.StdEncoding.EncodeToString(digest[:]) + `</ds:DigestValue></ds:Reference></ds:SignedInfo>`
	sum := sha256.Sum256([]byte(signedInfo))
	sig, err := k.signer.Sign(rand.Reader, sum[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	signature := `<ds:Signature xmlns:ds="` + nsDS + `">` + signedInfo + `<ds:SignatureValue>` + base64.StdEncoding.EncodeToString(sig) +
		`</ds:SignatureValue></ds:Signature>`
	return []byte(strings.Replace(tmpl, sigMarker, signature, 1))
}

// FuzzFactsMatchCanonicalForm checks "what was signed is what is used"
// directly: a template is signed (by this package's canonicaliser), then
// changed as mut says, as a forger would; whenever the verified read
// succeeds, reading the canonical form the signature covers (without the
// signature, unverified) must give the same facts: same entity, roles,
// certificates, endpoints, validity, counts, and the same failure kind if
// any.
func FuzzFactsMatchCanonicalForm(f *testing.F) {
	for i, tmpl := range fuzzTemplates(f) {
		for v := range 12 {
			f.Add([]byte(tmpl), uint8(v+12*i), uint32(0))
			f.Add([]byte(tmpl), uint8(v), uint32(8*v+1))
		}
	}
	k := key(f, "ec-federation")
	trust := &TrustAnchor{Certificates: []*x509.Certificate{k.cert}, RequireSignature: true}
	f.Fuzz(func(t *testing.T, tmpl []byte, variant uint8, mut uint32) {
		if !bytes.Contains(tmpl, []byte(sigMarker)) || len(tmpl) > 1<<20 {
			return
		}
		s := fuzzC14N[int(variant)%len(fuzzC14N)]
		if id := rootID(string(tmpl)); id != "" && variant&16 == 0 {
			s.uri = "#" + id
		}
		signed := ourSigned(t, string(tmpl), s, k)
		if signed == nil {
			return
		}
		doc := signed
		if mut%8 != 0 {
			doc = mutate(signed, mut)
		}
		entity := ""
		if variant&32 != 0 {
			entity = partnerID
		}
		d, err := budgetedRead(t, doc, ReadOptions{EntityID: entity, Now: testNow, Trust: trust})
		if d == nil || !d.Signature.Verified {
			return // refused: nothing was used
		}
		mode, _ := modeFor(s.c14n, s.prefixList)
		mode.comments = false
		canonical, cerr := canonicalDocument(doc, mode, canonOpts{withoutSignature: true, wholeDocument: s.uri == ""})
		if cerr != nil {
			t.Fatalf("verified, but the canonical form cannot be produced: %v", cerr)
		}
		c, cErr := budgetedRead(t, canonical, ReadOptions{EntityID: entity, Now: testNow})
		if KindOf(err) != KindOf(cErr) {
			t.Fatalf("verified read: %v; read of the canonical form: %v\ndocument:\n%s\ncanonical:\n%s", err, cErr, doc, canonical)
		}
		if c == nil {
			t.Fatalf("no document from reading the canonical form: %v", cErr)
		}
		if !reflect.DeepEqual(d.Entity, c.Entity) || d.EntityCount != c.EntityCount || d.IdPCount != c.IdPCount {
			t.Fatalf("facts differ\nverified:  %+v (%d entities, %d IdPs)\ncanonical: %+v (%d, %d)\ndocument:\n%s\ncanonical:\n%s",
				d.Entity, d.EntityCount, d.IdPCount, c.Entity, c.EntityCount, c.IdPCount, doc, canonical)
		}
	})
}
