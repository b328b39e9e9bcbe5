package metadata

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// realCorpusDir finds shared/testdata/metadata/real by walking up from the
// package directory: CI checks the repo out at X/main and the shared
// material at X/shared. The files are read in place, never copied.
func realCorpusDir(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "testdata", "metadata", "real")
		if st, err := os.Stat(filepath.Join(candidate, "SOURCES.md")); err == nil && !st.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// beforeEverything is a clock at which no document of the corpus has
// expired (they are historic).
var beforeEverything = time.Date(2005, 1, 1, 0, 0, 0, 0, time.UTC)

// corpus is SOURCES.md's table: entity and IdP counts, signature status, the
// document-level validUntil, and the signing certificate count (for
// single-entity documents, distinct over the SAML and WS-Fed roles). entity
// names the IdP entity to take from an aggregate.
var corpus = []struct {
	file       string
	entities   int
	idps       int
	certs      int // single-entity documents only; 0 = not checked
	signed     string
	validUntil string
	entity     string
}{
	{"okta-idp.xml", 1, 1, 1, "no", "", ""},
	{"okta-idp-2017.xml", 1, 1, 1, "no", "", ""},
	{"google-workspace-idp.xml", 1, 1, 1, "no", "2028-07-19T17:28:34Z", ""},
	{"google-workspace-idp-two-certs.xml", 1, 1, 2, "no", "2026-12-16T17:18:02Z", ""},
	{"keycloak-idp.xml", 1, 1, 1, "no", "", ""},
	{"pingone-idp.xml", 1, 1, 1, "no", "", ""},
	{"onelogin-idp.xml", 1, 1, 1, "no", "", ""},
	{"auth0-idp.xml", 1, 1, 1, "no", "", ""},
	{"shibboleth-idp-testshib.xml", 1, 1, 1, "no", "", ""},
	{"shibboleth-idp-aconet.xml", 1, 1, 1, "no", "", ""},
	{"simplesamlphp-idp-umu.xml", 1, 1, 1, "no", "", ""},
	{"openathens-nhs-idp.xml", 1, 1, 1, "no", "", ""},
	{"adfs-federationmetadata.xml", 1, 1, 1, "verifies", "", ""},
	{"adfs-federationmetadata-ucar.xml", 1, 1, 1, "verifies", "", ""},
	{"adfs-federationmetadata-anonymized-badsig.xml", 1, 1, 1, "FAILS", "", ""},
	{"entra-federationmetadata-2014.xml", 1, 1, 2, "verifies", "", ""},
	{"entra-federationmetadata-tenant.xml", 1, 1, 3, "verifies", "", ""},
	{"entra-federationmetadata-common.xml", 1, 1, 4, "verifies", "", ""},
	{"entra-app-federationmetadata.xml", 1, 1, 1, "verifies", "", ""},
	{"entra-federationmetadata-tampered-certswap.xml", 1, 1, 1, "FAILS", "", ""},
	{"testshib-providers.xml", 2, 1, 0, "no", "", ""},
	{"fccn-edugain-export-signed.xml", 3, 2, 0, "verifies", "2017-04-22T12:17:22Z", "https://idp.fccn.pt/idp/shibboleth"},
	{"spid-idps-signed-aggregate.xml", 9, 9, 0, "verifies", "", "https://posteid.poste.it"},
	{"skolfederation-signed-aggregate-nokeyinfo.xml", 53, 27, 0, "no KeyInfo cert", "2014-10-11T13:15:05Z", "http://fs.ale.se/adfs/services/trust"},
	{"swamid-1.0-signed-aggregate.xml", 175, 39, 0, "verifies", "", "http://idp.chalmers.se/adfs/services/trust"},
	{"wayf-edugain-signed-aggregate.xml", 77, 61, 0, "verifies", "2019-07-24T08:10:04Z", "http://birk.wayf.dk/birk.php/adfs.eaaa.dk/adfs/services/trust"},
	{"incommon-2010-signed-aggregate.xml", 442, 131, 0, "verifies", "2010-03-23T23:00:00Z", "urn:mace:incommon:osu.edu"},
	{"incommon-2010-reformatted-badsig.xml", 442, 131, 0, "FAILS", "2010-03-23T23:00:00Z", "urn:mace:incommon:osu.edu"},
	{"switch-aaitest-unsigned-aggregate.xml", 296, 35, 0, "no", "3001-01-01T00:00:00Z", "https://aai-demo-idp.switch.ch/idp/shibboleth"},
}

func TestRealCorpus(t *testing.T) {
	dir := realCorpusDir(t)
	if dir == "" {
		t.Log("shared/testdata/metadata/real is absent next to the checkout; the real-corpus conformance test has nothing to read")
		return
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.xml"))
	if len(files) != len(corpus) {
		t.Errorf("%d documents in %s, the table lists %d: update the table", len(files), dir, len(corpus))
	}
	for _, c := range corpus {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, c.file))
			if err != nil {
				t.Fatal(err)
			}
			opts := ReadOptions{EntityID: c.entity, Now: beforeEverything}
			doc, err := ReadBytes(context.Background(), data, opts)
			if err != nil {
				t.Fatalf("does not parse: %v", err)
			}
			if doc.EntityCount != c.entities || doc.IdPCount != c.idps {
				t.Errorf("entities %d (IdPs %d), want %d (%d)", doc.EntityCount, doc.IdPCount, c.entities, c.idps)
			}
			if c.entity != "" && doc.Entity.EntityID != c.entity {
				t.Errorf("entity %q, want %q", doc.Entity.EntityID, c.entity)
			}
			if c.certs > 0 {
				if n := len(distinctCerts(doc.Entity)); n != c.certs {
					t.Errorf("signing certificates %d, want %d", n, c.certs)
				}
			}
			if c.validUntil != "" {
				if doc.Entity.ValidUntil == nil || doc.Entity.ValidUntil.Format(time.RFC3339) != c.validUntil {
					t.Errorf("validUntil %v, want %s", doc.Entity.ValidUntil, c.validUntil)
				}
				// And at the real date of today the document is expired
				// (except SWITCH's year 3001).
				if vu, _ := time.Parse(time.RFC3339, c.validUntil); vu.Before(testNow) {
					_, err := ReadBytes(context.Background(), data, ReadOptions{EntityID: c.entity, Now: testNow})
					wantKind(t, err, KindExpired)
				}
			}
			if got := doc.Signature.Signed; got != (c.signed != "no") {
				t.Fatalf("signed %v, SOURCES says %q", got, c.signed)
			}
			checkCorpusSignature(t, data, doc, opts, c.signed)
		})
	}
}

// checkCorpusSignature pins the certificate of the document's own KeyInfo
// (which proves integrity, not trust) and expects SOURCES.md's verdict.
func checkCorpusSignature(t *testing.T, data []byte, doc *Document, opts ReadOptions, want string) {
	switch want {
	case "no":
		opts.Trust = &TrustAnchor{SHA256: []string{strings.Repeat("A", 64)}, RequireSignature: true}
		_, err := ReadBytes(context.Background(), data, opts)
		wantKind(t, err, KindUnsigned)
		return
	case "no KeyInfo cert":
		if len(doc.Signature.KeyInfoCertificates) != 0 {
			t.Fatalf("KeyInfo certificates %d, want none", len(doc.Signature.KeyInfoCertificates))
		}
		opts.Trust = &TrustAnchor{SHA256: []string{strings.Repeat("A", 64)}, RequireSignature: true, AllowSHA1: true}
		_, err := ReadBytes(context.Background(), data, opts)
		wantKind(t, err, KindSignature)
		return
	}
	var pins []string
	for _, c := range doc.Signature.KeyInfoCertificates {
		pins = append(pins, c.SHA256)
	}
	if len(pins) == 0 {
		t.Fatal("no KeyInfo certificate to pin")
	}
	opts.Trust = &TrustAnchor{SHA256: pins, RequireSignature: true, AllowSHA1: true}
	verified, err := ReadBytes(context.Background(), data, opts)
	switch want {
	case "verifies":
		if err != nil {
			t.Fatalf("should verify with its KeyInfo certificate: %v", err)
		}
		if !verified.Signature.Verified || !reflect.DeepEqual(verified.Entity, doc.Entity) {
			t.Fatalf("verified read differs from the unverified one: %+v\n%+v\n%+v", verified.Signature, verified.Entity, doc.Entity)
		}
		// AD FS and Entra sign with Exclusive C14N and no PrefixList: the
		// WS-Fed role's xsi:type prefix is fixed only by the role's
		// children, and the role must survive verification.
		if strings.HasPrefix(filepath.Base(t.Name()), "adfs") || strings.HasPrefix(filepath.Base(t.Name()), "entra") {
			if verified.Entity.WSFed == nil || len(verified.Entity.WSFed.PassiveRequestorEndpoints) == 0 {
				t.Fatalf("verified without its WS-Fed role: %+v", verified.Entity)
			}
		}
		if strings.HasSuffix(doc.Signature.SignatureMethod, "sha1") {
			opts.Trust.AllowSHA1 = false
			_, err := ReadBytes(context.Background(), data, opts)
			if !errors.Is(err, ErrSHA1) {
				t.Fatalf("an rsa-sha1 signature without allowSha1: got %v, want ErrSHA1", err)
			}
		}
	case "FAILS":
		wantKind(t, err, KindSignature)
	default:
		t.Fatalf("unknown status %q", want)
	}
}

func distinctCerts(e Entity) map[string]inventory.Certificate {
	out := map[string]inventory.Certificate{}
	for _, r := range []*Role{e.SAML, e.WSFed} {
		if r != nil {
			for _, c := range r.SigningCertificates {
				out[c.SHA256] = c.Certificate
			}
		}
	}
	return out
}

// TestRealCorpusHandRead checks values read off the files by hand.
func TestRealCorpusHandRead(t *testing.T) {
	dir := realCorpusDir(t)
	if dir == "" {
		t.Log("shared/testdata/metadata/real is absent; nothing to check")
		return
	}
	read := func(file, entity string) *Document {
		t.Helper()
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := ReadBytes(context.Background(), data, ReadOptions{EntityID: entity, Now: beforeEverything})
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		return doc
	}

	okta := read("okta-idp.xml", "")
	if okta.Entity.EntityID != "http://www.okta.com/exkdoocxa1VmjpXmX697" ||
		okta.Entity.SAML.SSOEndpoint() != "https://trial-1022863.okta.com/app/trial-1022863_oktalocalhostbis_1/exkdoocxa1VmjpXmX697/sso/saml" ||
		len(okta.Entity.SAML.SingleSignOnServices) != 2 || okta.Entity.WSFed != nil {
		t.Errorf("okta: %+v", okta.Entity)
	}
	if na := okta.Entity.SAML.SigningCertificates[0].NotAfter; na.Year() != 2034 || na.Month() != time.April {
		t.Errorf("okta certificate notAfter %v, SOURCES says 2034-04-25", na)
	}

	adfs := read("adfs-federationmetadata.xml", "")
	if adfs.Entity.EntityID != "http://idp.adfs.example.com/adfs/services/trust" ||
		adfs.Entity.WSFed == nil || len(adfs.Entity.WSFed.PassiveRequestorEndpoints) != 1 ||
		adfs.Entity.WSFed.PassiveRequestorEndpoints[0] != "https://idp.adfs.example.com/adfs/ls/" ||
		adfs.Signature.SignatureMethod != rsaSHA1 {
		t.Errorf("adfs: %+v / %+v", adfs.Entity, adfs.Signature)
	}

	entra := read("entra-federationmetadata-common.xml", "")
	if entra.Entity.EntityID != "https://sts.windows.net/{tenantid}/" ||
		len(entra.Entity.WSFed.SigningCertificates) != 4 || len(entra.Entity.SAML.SigningCertificates) != 4 ||
		entra.Entity.WSFed.PassiveRequestorEndpoints[0] != "https://login.microsoftonline.com/common/wsfed" ||
		entra.Entity.SAML.SSOEndpoint() != "https://login.microsoftonline.com/common/saml2" {
		t.Errorf("entra common: %+v", entra.Entity)
	}

	// Old ACS certificates have a negative serial number, which crypto/x509
	// refuses; they are still read (subject and dates).
	entra2014 := read("entra-federationmetadata-2014.xml", "")
	if n := len(entra2014.Entity.SAML.SigningCertificates); n != 2 || len(entra2014.Entity.Problems) != 0 {
		t.Errorf("entra 2014: %d certificates, problems %v", n, entra2014.Entity.Problems)
	}

	chalmers := read("swamid-1.0-signed-aggregate.xml", "http://idp.chalmers.se/adfs/services/trust")
	if chalmers.Entity.WSFed == nil || chalmers.Entity.WSFed.PassiveRequestorEndpoints[0] != "https://idp.chalmers.se/adfs/ls/" ||
		chalmers.Entity.SAML.SSOEndpoint() != "https://idp.chalmers.se/adfs/ls/" || len(distinctCerts(chalmers.Entity)) != 1 {
		t.Errorf("chalmers: %+v", chalmers.Entity)
	}

	poste := read("spid-idps-signed-aggregate.xml", "https://posteid.poste.it")
	if poste.Entity.CacheDuration != "P0Y0M30DT0H0M0.000S" || len(poste.Entity.SAML.SigningCertificates) != 2 ||
		poste.Entity.SAML.SSOEndpoint() != "https://posteid.poste.it/jod-fs/ssoserviceredirect" {
		t.Errorf("poste: %+v", poste.Entity)
	}

	wayf := read("wayf-edugain-signed-aggregate.xml", "http://birk.wayf.dk/birk.php/adfs.eaaa.dk/adfs/services/trust")
	if wayf.Entity.CacheDuration != "PT6H" || wayf.Signature.ReferenceURI != "#_1c1cb940a32035ed4906a2f7dba433002a182766" {
		t.Errorf("wayf: cacheDuration %q, reference %q", wayf.Entity.CacheDuration, wayf.Signature.ReferenceURI)
	}
}
