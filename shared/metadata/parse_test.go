package metadata

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestReadFindsEntityInAggregate(t *testing.T) {
	doc := []byte(fixtureAggregate(t, ` cacheDuration="PT6H"`))
	d := mustRead(t, doc, ReadOptions{EntityID: partnerID})
	e := d.Entity
	if e.EntityID != partnerID || d.EntityCount != 3 || d.IdPCount != 3 || d.Root != "EntitiesDescriptor" {
		t.Fatalf("got %+v", d)
	}
	if e.SAML == nil || e.SAML.SSOEndpoint() != "https://idp.partner.example/sso" || len(e.SAML.SingleSignOnServices) != 2 {
		t.Fatalf("SAML role %+v", e.SAML)
	}
	if e.WSFed == nil || len(e.WSFed.PassiveRequestorEndpoints) != 1 || e.WSFed.PassiveRequestorEndpoints[0] != "https://idp.partner.example/wsfed" {
		t.Fatalf("WS-Fed role %+v", e.WSFed)
	}
	partner := key(t, "rsa-partner")
	for _, r := range []*Role{e.SAML, e.WSFed} {
		if len(r.SigningCertificates) != 1 || r.SigningCertificates[0].SHA256 != partner.sha256() || r.SigningCertificates[0].Base64 != partner.b64() {
			t.Fatalf("certificates %+v", r.SigningCertificates)
		}
	}
	if e.CacheDuration != "PT6H" {
		t.Fatalf("cacheDuration %q", e.CacheDuration)
	}
}

func TestReadValidityOfEnclosingElements(t *testing.T) {
	doc := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" validUntil="2027-01-01T00:00:00Z" cacheDuration="PT6H">
<md:EntitiesDescriptor validUntil="2026-12-31T00:00:00.5Z" cacheDuration="PT30M">` +
		idp{id: "urn:x", certs: []*testKey{key(t, "rsa-partner")}, sso: "https://x/sso"}.xml() +
		`</md:EntitiesDescriptor>` +
		idp{id: "urn:y", certs: []*testKey{key(t, "rsa-one")}, sso: "https://y/sso"}.xml() +
		`</md:EntitiesDescriptor>`
	x := mustRead(t, []byte(doc), ReadOptions{EntityID: "urn:x"})
	if x.Entity.ValidUntil == nil || !x.Entity.ValidUntil.Equal(time.Date(2026, 12, 31, 0, 0, 0, 5e8, time.UTC)) || x.Entity.CacheDuration != "PT30M" {
		t.Fatalf("urn:x validity %v %q", x.Entity.ValidUntil, x.Entity.CacheDuration)
	}
	// urn:y is outside the nested aggregate: only the root applies.
	y := mustRead(t, []byte(doc), ReadOptions{EntityID: "urn:y"})
	if y.Entity.ValidUntil == nil || y.Entity.ValidUntil.Year() != 2027 || y.Entity.CacheDuration != "PT6H" {
		t.Fatalf("urn:y validity %v %q", y.Entity.ValidUntil, y.Entity.CacheDuration)
	}
}

func TestReadEntityChoice(t *testing.T) {
	sp := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="urn:sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>`
	one := idp{id: "urn:idp", certs: []*testKey{key(t, "rsa-partner")}, sso: "https://i/sso"}.xml()
	two := idp{id: "urn:idp2", certs: []*testKey{key(t, "rsa-one")}, sso: "https://j/sso"}.xml()

	// The only IdP of an aggregate that also has an SP.
	d := mustRead(t, []byte(aggregate("", sp, one)), ReadOptions{})
	if d.Entity.EntityID != "urn:idp" {
		t.Fatalf("got %q", d.Entity.EntityID)
	}
	cases := []struct {
		name, doc, entity string
		kind              ErrorKind
	}{
		{"several IdPs, none named", aggregate("", one, two), "", KindAmbiguousEntity},
		{"duplicate entityID", aggregate("", one, two, one), "urn:idp", KindAmbiguousEntity},
		{"not found", aggregate("", one), "urn:nope", KindEntityNotFound},
		{"only an SP", sp, "", KindEntityNotFound},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadBytes(context.Background(), []byte(c.doc), ReadOptions{EntityID: c.entity, Now: testNow})
			wantKind(t, err, c.kind)
		})
	}
}

func TestReadWSFedOnlyAndKeyUse(t *testing.T) {
	sign, enc := key(t, "rsa-partner"), key(t, "rsa-one")
	doc := idp{id: "urn:sts", certs: []*testKey{sign}, passive: "https://sts/ls/", noSAML: true}.xml()
	// An encryption key must not count as a signing certificate.
	doc = strings.Replace(doc, "</fed:PassiveRequestorEndpoint>", "</fed:PassiveRequestorEndpoint>\n<md:KeyDescriptor use=\"encryption\"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>"+enc.b64()+"</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>", 1)
	d := mustRead(t, []byte(doc), ReadOptions{})
	if d.Entity.SAML != nil || d.Entity.WSFed == nil {
		t.Fatalf("roles %+v", d.Entity)
	}
	certs := d.Entity.WSFed.SigningCertificates
	if len(certs) != 1 || certs[0].SHA256 != sign.sha256() {
		t.Fatalf("certificates %+v", certs)
	}
	if d.Entity.Role(ProtocolWSFed) != d.Entity.WSFed || d.Entity.Role(ProtocolSAML) != nil {
		t.Fatal("Role by protocol")
	}
}

func TestReadRefusesWhatIsNotMetadata(t *testing.T) {
	cases := []struct {
		name, doc string
		kind      ErrorKind
	}{
		{"empty", "", KindNotXML},
		{"text", "hello", KindNotXML},
		{"html", "<html><body/></html>", KindNotMetadata},
		{"truncated", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:IDPSSODescriptor>`, KindNotXML},
		{"mismatched end", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"></md:Other>`, KindNotXML},
		{"DTD", `<!DOCTYPE x [<!ENTITY a "b">]><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>`, KindNotXML},
		{"undeclared prefix", `<md:EntityDescriptor entityID="x"/>`, KindNotXML},
		{"repeated attribute", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x" entityID="y"/>`, KindNotXML},
		{"wrong namespace", `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:1.0:metadata" entityID="x"/>`, KindNotMetadata},
		{"no entityID", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"/>`, KindNotMetadata},
		{"bad validUntil", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x" validUntil="soon"/>`, KindNotMetadata},
		{"two roots", `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="y"/>`, KindNotXML},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ReadBytes(context.Background(), []byte(c.doc), ReadOptions{Now: testNow})
			wantKind(t, err, c.kind)
		})
	}
}

func TestReadAcceptsBOMAndReportsHash(t *testing.T) {
	doc := "\xEF\xBB\xBF" + idp{id: "urn:bom", certs: []*testKey{key(t, "rsa-partner")}, sso: "https://b/sso"}.xml()
	d := mustRead(t, []byte(doc), ReadOptions{})
	if d.Entity.EntityID != "urn:bom" || d.Size != int64(len(doc)) || len(d.SHA256) != 64 {
		t.Fatalf("got %+v", d)
	}
}

func TestParseISODuration(t *testing.T) {
	cases := map[string]time.Duration{
		"PT6H":                6 * time.Hour,
		"PT30M":               30 * time.Minute,
		"P0Y0M30DT0H0M0.000S": 30 * 24 * time.Hour, // SPID's form
		"P1DT2H":              26 * time.Hour,
		"PT1.5S":              1500 * time.Millisecond,
		"-PT1H":               -time.Hour,
		"P1Y":                 365 * 24 * time.Hour,
		"P1M":                 30 * 24 * time.Hour,
		"PT1M":                time.Minute,
		"P2W":                 14 * 24 * time.Hour,
		" PT6H ":              6 * time.Hour,
	}
	for in, want := range cases {
		got, err := parseISODuration(in)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", in, got, err, want)
		}
	}
	// Megabytes of digits: leading zeros, a long fraction (read as
	// numbers), a long integer (too long a duration).
	zeros, ones := strings.Repeat("0", 1<<20), strings.Repeat("1", 1<<20)
	cases["P"+zeros+"6D"] = 6 * 24 * time.Hour
	cases["PT0."+zeros+"1S"] = 0
	cases["PT1."+ones+"S"] = 1111111111 * time.Nanosecond
	for in, want := range cases {
		got, err := parseISODuration(in)
		if err != nil || got != want {
			t.Errorf("%q: got %v, %v; want %v", clip(in), got, err, want)
		}
	}
	huge := "P" + ones + "D"
	allocs := testing.AllocsPerRun(3, func() {
		if _, err := parseISODuration(huge); err == nil || len(err.Error()) > 200 {
			t.Errorf("a million-digit duration: %.200v", err)
		}
	})
	if allocs > 10 {
		t.Errorf("a million-digit duration: %v allocations", allocs)
	}
	for _, bad := range []string{"", "P", "6H", "PT", "PTH", "P1H", "PT1D", "P1.2.3D", "PT6", "P-1D", "PTT1H", "P.D", "P1..D", "P" + ones + "." + ones + ".1D"} {
		if _, err := parseISODuration(bad); err == nil {
			t.Errorf("%q: want an error", clip(bad))
		}
	}
}
