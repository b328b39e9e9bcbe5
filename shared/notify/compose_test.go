package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/notify"
)

func testConfig() *config.Config {
	cfg := config.Default()
	cfg.FallbackAdmin = "idp-admins@contoso.com"
	return cfg
}

var testLinks = notify.Links{
	AckLink: func(f assess.Finding) (string, time.Time) {
		return "https://idpkeeper.contoso.com/api/ack?finding=" + f.ID + "&t=capability", time.Date(2026, 12, 20, 12, 0, 0, 0, time.UTC)
	},
	Report: "https://portal.contoso.internal/idpkeeper/report",
}

func partnerFinding() assess.Finding {
	d := due
	return assess.Finding{
		ID:       "F-0123456789ab",
		Kind:     assess.KindFederationCertExpiring,
		Severity: assess.Critical,
		Dependency: assess.Dependency{
			Ref: "federation/fabrikam", Kind: "federation", ID: "fabrikam", Name: "Fabrikam SAML",
		},
		Due:               &d,
		ImpactedUserFlows: []string{"B2X_1_partners"},
		ImpactedDomains:   []string{"fabrikam.com", "fabrikam.de"},
		Owner:             &assess.Owner{Name: "Fabrikam IT", Email: "it@fabrikam.com", Organisation: "Fabrikam"},
		Action:            "Publish your next signing certificate in your metadata at https://fabrikam.com/metadata.xml by 2026-12-24.",
		Detail: map[string]string{
			"thumbprintSha256": strings.Repeat("ab", 32),
			"notAfter":         "2026-12-24T12:00:00Z",
		},
	}
}

func TestComposeRecipients(t *testing.T) {
	cfg := testConfig()

	external := notify.Compose(partnerFinding(), "d14", cfg, testLinks)
	if len(external.To) != 1 || external.To[0].Email != "it@fabrikam.com" ||
		len(external.Cc) != 1 || external.Cc[0].Email != "idp-admins@contoso.com" {
		t.Fatalf("external owner: to %+v cc %+v", external.To, external.Cc)
	}
	for _, body := range []string{external.Text, external.HTML} {
		if strings.Contains(body, "portal.contoso.internal") {
			t.Fatal("an external owner got an internal link")
		}
		if !strings.Contains(body, "api/ack?finding=F-0123456789ab") {
			t.Fatal("no acknowledgement link")
		}
	}

	f := partnerFinding()
	f.Owner = &assess.Owner{Name: "Identity team", Email: "identity@contoso.com", Internal: true}
	internal := notify.Compose(f, "d14", cfg, testLinks)
	if len(internal.To) != 1 || internal.To[0].Email != "identity@contoso.com" || len(internal.Cc) != 0 {
		t.Fatalf("internal owner: to %+v cc %+v", internal.To, internal.Cc)
	}
	if !strings.Contains(internal.Text, "https://portal.contoso.internal/idpkeeper/report#"+internal.FindingID) ||
		!strings.Contains(internal.HTML, `href="https://portal.contoso.internal/idpkeeper/report#`+internal.FindingID+`"`) {
		t.Errorf("the internal notice does not link to its finding in the report:\n%s\n%s", internal.Text, internal.HTML)
	}
	if !strings.Contains(internal.Text, "portal.contoso.internal") {
		t.Fatal("an internal owner did not get the report link")
	}

	for _, o := range []*assess.Owner{nil, {Email: "idp-admins@contoso.com", Fallback: true}, {Name: "no address"}} {
		f.Owner = o
		m := notify.Compose(f, "d14", cfg, testLinks)
		if len(m.To) != 1 || m.To[0].Email != "idp-admins@contoso.com" || len(m.Cc) != 0 {
			t.Fatalf("owner %+v: to %+v cc %+v", o, m.To, m.Cc)
		}
		if !strings.Contains(m.Text, "fallback administrator") {
			t.Fatal("the fallback admin is not told why they get this")
		}
	}
	f.Owner = nil
	if m := notify.Compose(f, "d14", config.Default(), notify.Links{}); len(m.To) != 0 || m.AckURL != "" {
		t.Fatalf("no owner and no fallback: to %+v ack %q", m.To, m.AckURL)
	}
}

func TestComposeContent(t *testing.T) {
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	if m.Subject != "[IdP Keeper] Action needed by 2026-12-24: Fabrikam SAML" {
		t.Fatalf("subject %q", m.Subject)
	}
	for _, want := range []string{
		"Publish your next token-signing certificate in your SAML/WS-Fed metadata by 2026-12-24",
		"2026-12-24 12:00 (UTC)",
		"fabrikam.com, fabrikam.de",
		"B2X_1_partners",
		"federation/fabrikam",
		"domains cannot sign in",
		strings.Repeat("ab", 32),
		"Hello Fabrikam IT",
		"d14",
	} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, m.Text)
		}
		if !strings.Contains(m.HTML, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if m.Deadline == nil || !m.Deadline.Equal(due) || m.Severity != "critical" {
		t.Fatalf("deadline %v severity %s", m.Deadline, m.Severity)
	}

	over := notify.Compose(partnerFinding(), "overdue-2026-12-26", testConfig(), testLinks)
	if !strings.HasPrefix(over.Subject, "[IdP Keeper] Overdue since 2026-12-24") || !strings.Contains(over.Text, "overdue") {
		t.Fatalf("overdue notice: %q\n%s", over.Subject, over.Text)
	}
}

func TestComposeEscapesHTML(t *testing.T) {
	f := partnerFinding()
	// A connector finding: its Action reaches the owner as written.
	f.Kind, f.Dependency.Kind = assess.KindConnectorCertExpiring, "connector"
	f.Action = `Rotate <script>alert("x")</script> & "quote"`
	f.ImpactedDomains = []string{"<b>evil</b>.com"}
	m := notify.Compose(f, "d7", testConfig(), testLinks)
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>evil") {
		t.Fatalf("unescaped markup in HTML:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "&lt;script&gt;") {
		t.Fatalf("escaped action missing:\n%s", m.HTML)
	}
	if !strings.Contains(m.Text, `<script>alert("x")</script>`) {
		t.Fatal("the text part should carry the action verbatim")
	}
}

func TestSafeFacts(t *testing.T) {
	facts := notify.SafeFacts(map[string]string{
		"secretName":    "google-client-secret",
		"secretVersion": "0123456789abcdef0123456789abcdef",
		"thumbprint":    "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01",
		"vault":         "https://contoso-idp.vault.azure.net/",
		"notAfter":      "2026-12-24",
		// allowed keys with values of the wrong shape
		"secretExpires": "2026-12-24 plus a password",
		"vault2":        "x",
		"subject":       "CN=fabrikam",
	})
	got := map[string]string{}
	for _, f := range facts {
		got[f.Label] = f.Value
	}
	if len(got) != 5 || got["Key Vault secret"] != "google-client-secret" || got["Valid until"] != "2026-12-24" {
		t.Fatalf("facts %+v", facts)
	}
}

// A partner is asked for what only the partner can do; the Entra
// administrator's action is not forwarded to it.
func TestComposeAsksPartnersForTheirSide(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`version: 1
owners: [{name: fab, email: sso@fabrikam.example, organisation: Fabrikam}]
fallbackAdmin: admins@contoso.example
dependencies:
  - ref: federation/fabrikam.example
    owner: fab
    metadata: {url: "https://sts.fabrikam.example/FederationMetadata.xml"}
`))
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	f := assess.Finding{
		ID: "F-1", Kind: assess.KindFederationCertExpiring, Severity: assess.Warning, Due: &due,
		Dependency:      assess.Dependency{Ref: "federation/5a1d", Kind: "federation", ID: "5a1d", Name: "Fabrikam"},
		ImpactedDomains: []string{"fabrikam.example"},
		Owner:           &assess.Owner{Name: "fab", Email: "sso@fabrikam.example", Organisation: "Fabrikam"},
		Action:          "Take the partner's new signing certificate from its metadata and update the Fabrikam federation in Entra before 2026-12-10.",
	}
	m := notify.Compose(f, "d30", cfg, notify.Links{})
	if !strings.Contains(m.Text, "Publish your next token-signing certificate in your metadata at https://sts.fabrikam.example/FederationMetadata.xml by 2026-12-10") {
		t.Errorf("partner notice does not ask the partner to publish its next certificate:\n%s", m.Text)
	}
	if strings.Contains(m.Text, "update the Fabrikam federation in Entra") {
		t.Errorf("partner notice forwards the Entra administrator's action:\n%s", m.Text)
	}
	f.Owner = &assess.Owner{Name: "id", Email: "id@contoso.example", Internal: true}
	if m := notify.Compose(f, "d30", cfg, notify.Links{}); !strings.Contains(m.Text, "update the Fabrikam federation in Entra") {
		t.Errorf("internal notice lost the administrator's action:\n%s", m.Text)
	}
}

// The ask follows what is known: when the partner's metadata already
// publishes its next certificate, the ask is its switch date — or nothing
// under policy auto — never "publish your next certificate".
func TestPartnerAskFollowsTheMetadataPlan(t *testing.T) {
	cfg, err := config.Parse("c.yaml", []byte(`version: 1
owners: [{name: fab, email: sso@fabrikam.example, organisation: Fabrikam}]
dependencies:
  - ref: federation/fabrikam.example
    owner: fab
    metadata: {url: "https://sts.fabrikam.example/FederationMetadata.xml"}
`))
	if err != nil {
		t.Fatal(err)
	}
	due := time.Date(2026, 12, 10, 0, 0, 0, 0, time.UTC)
	next := "31131F31D19FCFE141F7AA0DF928D4503D6E1970C007923F7DF68129013D48F9"
	f := assess.Finding{
		ID: "F-1", Kind: assess.KindFederationCertExpiring, Severity: assess.Warning, Due: &due,
		Dependency:      assess.Dependency{Ref: "federation/5a1d", Kind: "federation", ID: "5a1d", Name: "Fabrikam"},
		ImpactedDomains: []string{"fabrikam.example"},
		Owner:           &assess.Owner{Name: "fab", Email: "sso@fabrikam.example", Organisation: "Fabrikam"},
		Action:          "Ask Fabrikam for its switch date and approve the metadata plan …",
		Detail:          map[string]string{"successorThumbprint": next, "successorNotBefore": "2026-11-01T00:00:00Z"},
	}
	ask := notify.PartnerAsk(f, cfg)
	if !strings.Contains(ask, "Tell us the date you will switch to your next token-signing certificate (SHA-256 "+next+")") || strings.Contains(ask, "Publish") {
		t.Errorf("successor published: ask %q", ask)
	}
	m := notify.Compose(f, "d30", cfg, notify.Links{})
	if !strings.Contains(m.Text, "Tell us the date you will switch") || strings.Contains(m.Text, "Publish your next") || strings.Contains(m.Text, "approve the metadata plan") {
		t.Errorf("partner notice:\n%s", m.Text)
	}
	// Policy auto: nothing to ask (the report's table shows the tenant's
	// move); the notice says so rather than forwarding the admin's action.
	f.Detail["autoApply"] = "true"
	if ask := notify.PartnerAsk(f, cfg); ask != "" {
		t.Errorf("auto-apply: ask %q, want none", ask)
	}
	m = notify.Compose(f, "d30", cfg, notify.Links{})
	if !strings.Contains(m.Text, "Nothing is needed from you") || strings.Contains(m.Text, "approve the metadata plan") {
		t.Errorf("auto-apply notice:\n%s", m.Text)
	}
	// Without a successor the ask is still to publish one.
	delete(f.Detail, "successorThumbprint")
	delete(f.Detail, "autoApply")
	if ask := notify.PartnerAsk(f, cfg); !strings.Contains(ask, "Publish your next token-signing certificate") {
		t.Errorf("no successor: %q", ask)
	}
}

// Endpoint watch findings ask the partner for its side: bring the endpoint
// back (what we see, from where, since when, whose users), renew the TLS
// certificate; the recovery tells it nothing more is needed.
func TestPartnerAskForEndpoints(t *testing.T) {
	cfg, _ := config.Parse("c.yaml", []byte("version: 1\nowners: [{name: ada, email: it@adatum.example, organisation: Adatum}]\ndependencies: [{ref: federation/adatum.example, owner: ada}]\n"))
	base := assess.Finding{ID: "F-2", Dependency: assess.Dependency{Ref: "federation/9c3f", Kind: "federation", ID: "9c3f", Name: "Adatum"},
		ImpactedDomains: []string{"adatum.example"}, Owner: &assess.Owner{Name: "ada", Email: "it@adatum.example", Organisation: "Adatum"}}
	down := base
	down.Kind, down.Severity = assess.KindEndpointDown, assess.Expired
	down.Detail = map[string]string{"endpoint": "https://idp.adatum.example/saml2/sso", "role": "sign-in", "outageSince": "2026-11-20T04:10:00Z",
		"lastError": "connect", "observedFrom": "IdP Keeper in Azure West Europe", "consecutiveFailures": "12"}
	ask := notify.PartnerAsk(down, cfg)
	for _, want := range []string{"Bring https://idp.adatum.example/saml2/sso back", "from IdP Keeper in Azure West Europe", "since 2026-11-20T04:10:00Z", "users from adatum.example"} {
		if !strings.Contains(ask, want) {
			t.Errorf("down ask lacks %q: %s", want, ask)
		}
	}
	m := notify.Compose(down, "overdue-2026-11-20", cfg, notify.Links{})
	for _, want := range []string{"Endpoint: https://idp.adatum.example/saml2/sso", "Failed checks in a row: 12", "Checked from: IdP Keeper in Azure West Europe"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("down notice lacks the fact %q:\n%s", want, m.Text)
		}
	}
	tlsF := base
	tlsF.Kind = assess.KindEndpointTLSExpiring
	due := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	tlsF.Due = &due
	tlsF.Detail = map[string]string{"endpoint": "https://idp.adatum.example/saml2/sso", "host": "idp.adatum.example", "tlsNotAfter": "2026-11-27T00:00:00Z"}
	if ask := notify.PartnerAsk(tlsF, cfg); !strings.Contains(ask, "Renew the TLS certificate of idp.adatum.example by 2026-11-27") {
		t.Errorf("tls ask %q", ask)
	}
	rec := base
	rec.Kind, rec.Severity = assess.KindEndpointRecovered, assess.Info
	rec.Detail = map[string]string{"endpoint": "https://idp.adatum.example/saml2/sso", "recoveredAt": "2026-11-20T07:00:00Z"}
	if m := notify.Compose(rec, "recovered", cfg, notify.Links{}); !strings.Contains(m.Text, "Nothing more is needed: https://idp.adatum.example/saml2/sso answers our checks again") {
		t.Errorf("recovery notice:\n%s", m.Text)
	}
	// A URL carrying a query (a key) is never quoted as a fact.
	q := down
	q.Detail = map[string]string{"endpoint": "https://idp.adatum.example/sso?token=SECRET"}
	if m := notify.Compose(q, "overdue-2026-11-20", cfg, notify.Links{}); strings.Contains(m.Text, "Endpoint: ") || strings.Contains(m.Text+m.HTML, "SECRET") {
		t.Errorf("an endpoint with a query was quoted:\n%s", m.Text)
	}
}
