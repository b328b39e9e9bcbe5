package metadata

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func runInspect(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := InspectCommand(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInspectCommand(t *testing.T) {
	signer := key(t, "rsa-federation")
	partner := key(t, "rsa-partner")
	future := testNow.AddDate(1, 0, 0).Format(time.RFC3339)
	signed := sign(t, fixtureAggregate(t, ` validUntil="`+future+`"`), signer, signOpts{})
	agg := writeFile(t, "agg.xml", signed)
	tampered := writeFile(t, "tampered.xml", bytes.Replace(signed, []byte("https://idp.three.example/sso"), []byte("https://idp.three.example/sso2"), 1))
	notXML := writeFile(t, "not.xml", []byte("<md:EntityDescriptor"))
	single := writeFile(t, "idp.xml", []byte(idp{id: "urn:single", certs: []*testKey{partner}, sso: "https://s/sso", passive: "https://s/ls/"}.xml()))
	pemFile := writeFile(t, "signer.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signer.der()}))
	otherPEM := writeFile(t, "other.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: key(t, "rsa-other").der()}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(signed) }))
	defer srv.Close()

	cases := []struct {
		name string
		args []string
		code int
		out  []string // substrings of stdout
		err  string   // substring of stderr
	}{
		{"single entity, table", []string{single}, ExitOK,
			[]string{"urn:single", partner.sha256(), "SSO HTTP-Redirect", "https://s/sso", "WS-Fed passive", "https://s/ls/", "unsigned", "OK"}, ""},
		{"aggregate needs --entity", []string{agg}, ExitFailed, []string{"FAILED (ambiguous-entity)"}, "IdP entities"},
		{"flags after FILE", []string{agg, "--entity", partnerID, "--trust", pemFile}, ExitOK,
			[]string{partnerID, "verified", signer.sha256(), "3 entities"}, ""},
		{"flags before FILE", []string{"--entity", partnerID, "--trust-sha256", signer.sha256(), agg}, ExitOK, []string{"verified"}, ""},
		{"signed, no trust anchor", []string{"--entity", partnerID, agg}, ExitOK, []string{"signed, not verified (no trust anchor given)", signer.sha256()}, ""},
		{"wrong trust anchor", []string{agg, "--entity", partnerID, "--trust", otherPEM}, ExitFailed,
			[]string{"REFUSED (signature)", "NOT VERIFIED", partnerID, partner.sha256(), "https://idp.partner.example/sso", "https://idp.partner.example/wsfed", "FAILED (signature)"}, "not verify"},
		{"entity not found", []string{agg, "--entity", "urn:nope"}, ExitFailed, []string{"entity-not-found"}, "urn:nope"},
		{"expired later", []string{agg, "--entity", partnerID, "--at", testNow.AddDate(2, 0, 0).Format(time.RFC3339)}, ExitFailed,
			[]string{"REFUSED (expired)", future, "(EXPIRED)", partner.sha256(), "https://idp.partner.example/sso", "FAILED (expired)"}, "validUntil"},
		{"expired later, verified", []string{agg, "--entity", partnerID, "--trust", pemFile, "--at", testNow.AddDate(2, 0, 0).Format(time.RFC3339)}, ExitFailed,
			[]string{"REFUSED (expired)", "(EXPIRED)", "verified", partner.sha256(), "FAILED (expired)"}, "validUntil"},
		{"unsigned, signature required", []string{single, "--trust", pemFile}, ExitFailed,
			[]string{"REFUSED (unsigned)", "urn:single", partner.sha256(), "https://s/sso", "FAILED (unsigned)"}, "no root signature"},
		{"tampered", []string{tampered, "--entity", partnerID, "--trust", pemFile}, ExitFailed,
			[]string{"REFUSED (signature)", "NOT VERIFIED", "https://idp.partner.example/sso"}, "digest mismatch"},
		{"not XML", []string{notXML}, ExitFailed, []string{"FAILED (not-xml)"}, "not-xml"},
		{"URL over http when allowed", []string{srv.URL + "/md.xml", "--allow-http", "--allow-network", "127.0.0.1", "--entity", partnerID, "--trust", pemFile}, ExitOK, []string{"verified"}, ""},
		{"loopback URL refused unless allowed", []string{srv.URL + "/md.xml", "--allow-http", "--entity", partnerID}, ExitUnread, []string{"FAILED (unreachable)"}, "address 127.0.0.1 refused: it is loopback"},
		{"bad --allow-network", []string{srv.URL + "/md.xml", "--allow-network", "169.254.0.0/16"}, ExitUsage, nil, "can never be allowed"},
		{"URL over http refused", []string{srv.URL + "/md.xml", "--entity", partnerID}, ExitUsage, nil, "https only"},
		{"missing file", []string{filepath.Join(t.TempDir(), "none.xml")}, ExitUnread, []string{"FAILED"}, "no such file"},
		{"no FILE", []string{"--entity", partnerID}, ExitUsage, nil, "exactly one FILE"},
		{"two FILEs", []string{agg, single}, ExitUsage, nil, "exactly one FILE"},
		{"bad format", []string{single, "--format", "xml"}, ExitUsage, nil, "--format"},
		{"bad fingerprint", []string{single, "--trust-sha256", "abc"}, ExitUsage, nil, "64 hex digits"},
		{"trust file is not PEM", []string{single, "--trust", single}, ExitUsage, nil, "no CERTIFICATE"},
		{"unknown flag", []string{single, "--nope"}, ExitUsage, nil, "nope"},
		{"bad --at", []string{single, "--at", "yesterday"}, ExitUsage, nil, "--at"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runInspect(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			for _, want := range tc.out {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if tc.err != "" && !strings.Contains(errOut, tc.err) {
				t.Errorf("stderr lacks %q:\n%s", tc.err, errOut)
			}
		})
	}
}

func TestInspectCommandJSON(t *testing.T) {
	signer := key(t, "rsa-federation")
	agg := writeFile(t, "agg.xml", sign(t, fixtureAggregate(t, ""), signer, signOpts{}))
	code, out, _ := runInspect(t, agg, "--format", "json", "--entity", partnerID, "--trust-sha256", signer.sha256())
	if code != ExitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	var r struct {
		OK              bool   `json:"ok"`
		SignatureStatus string `json:"signatureStatus"`
		Document        struct {
			EntityCount int `json:"entityCount"`
			Entity      struct {
				EntityID string `json:"entityId"`
				SAML     struct {
					SigningCertificates []struct {
						SHA256   string    `json:"sha256"`
						NotAfter time.Time `json:"notAfter"`
					} `json:"signingCertificates"`
					SingleSignOnServices []struct{ Binding, Location string } `json:"singleSignOnServices"`
				} `json:"saml"`
				WSFed struct {
					PassiveRequestorEndpoints []string `json:"passiveRequestorEndpoints"`
				} `json:"wsFed"`
			} `json:"entity"`
			Signature struct {
				Verified bool `json:"verified"`
				Signer   struct {
					SHA256 string `json:"sha256"`
				} `json:"signer"`
			} `json:"signature"`
		} `json:"document"`
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	e := r.Document.Entity
	if !r.OK || r.SignatureStatus != "verified" || e.EntityID != partnerID || r.Document.EntityCount != 3 ||
		len(e.SAML.SigningCertificates) != 1 || e.SAML.SigningCertificates[0].SHA256 != key(t, "rsa-partner").sha256() ||
		len(e.SAML.SingleSignOnServices) != 2 || e.WSFed.PassiveRequestorEndpoints[0] != "https://idp.partner.example/wsfed" ||
		!r.Document.Signature.Verified || r.Document.Signature.Signer.SHA256 != signer.sha256() {
		t.Fatalf("json report %+v", r)
	}

	code, out, _ = runInspect(t, agg, "--format", "json")
	var failed struct {
		OK    bool `json:"ok"`
		Error struct {
			Kind    string `json:"kind"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(out), &failed); err != nil || code != ExitFailed || failed.OK || failed.Error.Kind != string(KindAmbiguousEntity) {
		t.Fatalf("failure report (%d): %s", code, out)
	}

	// A refused document is still shown: the expired aggregate's entity,
	// certificates and endpoints, with ok false and the reason.
	expired := writeFile(t, "expired.xml", sign(t, fixtureAggregate(t, ` validUntil="`+testNow.Add(-time.Hour).Format(time.RFC3339)+`"`), signer, signOpts{}))
	for _, trust := range [][]string{nil, {"--trust-sha256", signer.sha256()}} {
		code, out, _ = runInspect(t, append([]string{expired, "--format", "json", "--entity", partnerID}, trust...)...)
		var refused struct {
			OK    bool `json:"ok"`
			Error struct {
				Kind string `json:"kind"`
			} `json:"error"`
			SignatureStatus string `json:"signatureStatus"`
			Document        struct {
				Entity struct {
					EntityID   string    `json:"entityId"`
					ValidUntil time.Time `json:"validUntil"`
					SAML       struct {
						SigningCertificates []struct {
							SHA256 string `json:"sha256"`
						} `json:"signingCertificates"`
						SingleSignOnServices []struct{ Binding, Location string } `json:"singleSignOnServices"`
					} `json:"saml"`
				} `json:"entity"`
			} `json:"document"`
		}
		if err := json.Unmarshal([]byte(out), &refused); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		e := refused.Document.Entity
		wantStatus := map[bool]string{false: "signed, not verified (no trust anchor given)", true: "verified"}[trust != nil]
		if code != ExitFailed || refused.OK || refused.Error.Kind != string(KindExpired) || refused.SignatureStatus != wantStatus ||
			e.EntityID != partnerID || !e.ValidUntil.Before(testNow) || len(e.SAML.SigningCertificates) != 1 || len(e.SAML.SingleSignOnServices) != 2 {
			t.Fatalf("refused report (exit %d, trust %v): %s", code, trust, out)
		}
	}
}
