package metadata

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

func sc(k *testKey) SigningCertificate {
	c, err := inventory.ParseCertificateBase64(k.b64())
	if err != nil {
		panic(err)
	}
	return SigningCertificate{Certificate: *c, Base64: k.b64()}
}

func TestPlan(t *testing.T) {
	now := testNow
	var (
		current   = keyValid(t, "rsa-current", now.AddDate(-1, 0, 0), 3*365)
		successor = keyValid(t, "rsa-successor", now.AddDate(0, 0, -1), 4*365)
		expiring  = keyValid(t, "rsa-expiring", now.AddDate(-1, 0, 0), 375) // 10 days left
		fresh     = keyValid(t, "rsa-fresh", now.AddDate(0, 0, -10), 3*365)
		fresher   = keyValid(t, "rsa-fresher", now.AddDate(0, 0, -5), 3*365)
		future    = keyValid(t, "rsa-future", now.AddDate(0, 0, 10), 3*365)
	)
	const (
		issuer = "https://idp.partner.example/idp"
		sso    = "https://idp.partner.example/sso"
		wsfed  = "https://idp.partner.example/wsfed"
	)
	fed := func(k *testKey, mod ...func(*inventory.Federation)) inventory.Federation {
		f := inventory.Federation{ID: "fed-1", IssuerURI: issuer, PassiveSignInURI: sso, PreferredProtocol: ProtocolSAML}
		if k != nil {
			f.SigningCertificateBase64 = k.b64()
		}
		for _, m := range mod {
			m(&f)
		}
		return f
	}
	entity := func(keys ...*testKey) *Entity {
		var certs []SigningCertificate
		for _, k := range keys {
			certs = append(certs, sc(k))
		}
		return &Entity{
			EntityID: issuer,
			SAML: &Role{SigningCertificates: certs, SingleSignOnServices: []Endpoint{
				{BindingHTTPPOST, sso + "/post"}, {BindingHTTPRedirect, sso},
			}},
			WSFed: &Role{SigningCertificates: certs, PassiveRequestorEndpoints: []string{wsfed}},
		}
	}
	with := func(e *Entity, mod func(*Entity)) *Entity { mod(e); return e }
	ok := func(e *Entity) Observation { return Observation{Entity: e, Trusted: true} }
	last := &Record{FetchedAt: now.Add(-24 * time.Hour)}

	cases := []struct {
		name    string
		current inventory.Federation
		obs     Observation
		policy  Policy
		outcome Outcome
		action  Action
		// fields expected in Changes, in order; patch checked by check.
		changes []string
		check   func(t *testing.T, p ChangePlan)
	}{
		{
			name: "in sync", current: fed(current), obs: ok(entity(current)), policy: PolicyAuto,
			outcome: OutcomeInSync, action: ActionNone,
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch != nil || p.CurrentCertificate.SHA256 != current.sha256() || !strings.Contains(p.Reason, current.notAfter().Format("2006-01-02")) {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "Entra's endpoint is the POST one: in sync, no flapping", current: fed(current, func(f *inventory.Federation) { f.PassiveSignInURI = sso + "/post" }),
			obs: ok(entity(current)), policy: PolicyAuto, outcome: OutcomeInSync, action: ActionNone,
		},
		{
			name: "rollover pending", current: fed(current), obs: ok(entity(current, successor)), policy: PolicyAuto,
			outcome: OutcomeRolloverPending, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if p.Successor == nil || p.Successor.SHA256 != successor.sha256() || !p.WatchMoreOften || p.Patch != nil {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "certificate replaced, auto applies", current: fed(current), obs: ok(entity(fresh)), policy: PolicyAuto,
			outcome: OutcomeCertificateReplaced, action: ActionApply, changes: []string{FieldSigningCertificate},
			check: func(t *testing.T, p ChangePlan) {
				c := p.Changes[0]
				if c.From != current.sha256() || c.To != fresh.sha256() || p.Patch == nil || p.Patch.SigningCertificate != fresh.b64() ||
					p.Patch.IssuerURI != "" || p.Patch.PassiveSignInURI != "" {
					t.Errorf("plan %+v patch %+v", p, p.Patch)
				}
			},
		},
		{
			name: "certificate replaced, propose", current: fed(current), obs: ok(entity(fresh)), policy: PolicyPropose,
			outcome: OutcomeCertificateReplaced, action: ActionPropose, changes: []string{FieldSigningCertificate},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch == nil || p.Patch.SigningCertificate != fresh.b64() {
					t.Errorf("patch %+v", p.Patch)
				}
			},
		},
		{
			name: "certificate replaced, notify never patches", current: fed(current), obs: ok(entity(fresh)), policy: PolicyNotify,
			outcome: OutcomeCertificateReplaced, action: ActionNotify, changes: []string{FieldSigningCertificate},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch != nil {
					t.Errorf("notify must not carry a patch: %+v", p.Patch)
				}
			},
		},
		{
			name: "certificate replaced from untrusted bytes is only proposed", current: fed(current),
			obs: Observation{Entity: entity(fresh)}, policy: PolicyAuto,
			outcome: OutcomeCertificateReplaced, action: ActionPropose, changes: []string{FieldSigningCertificate},
		},
		{
			name: "several valid certificates: longest-standing proposed, never applied", current: fed(current), obs: ok(entity(fresher, fresh)), policy: PolicyAuto,
			outcome: OutcomeCertificateReplaced, action: ActionPropose, changes: []string{FieldSigningCertificate},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch.SigningCertificate != fresh.b64() || len(p.Notes) == 0 {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "certificate replaced but nothing valid yet", current: fed(current), obs: ok(entity(future)), policy: PolicyAuto,
			outcome: OutcomeCertificateReplaced, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch != nil || len(p.Changes) != 0 {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "Entra holds no certificate", current: fed(nil), obs: ok(entity(fresh)), policy: PolicyAuto,
			outcome: OutcomeCertificateReplaced, action: ActionApply, changes: []string{FieldSigningCertificate},
		},
		{
			name: "expiring with no successor", current: fed(expiring), obs: ok(entity(expiring)), policy: PolicyAuto,
			outcome: OutcomeCertificateExpiring, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if !p.WatchMoreOften || p.Patch != nil {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "expiring but a successor is published", current: fed(expiring), obs: ok(entity(expiring, fresh)), policy: PolicyAuto,
			outcome: OutcomeRolloverPending, action: ActionNotify,
		},
		{
			name: "SSO endpoint moved", current: fed(current, func(f *inventory.Federation) { f.PassiveSignInURI = "https://old.example/sso" }),
			obs: ok(entity(current)), policy: PolicyAuto,
			outcome: OutcomeEndpointChanged, action: ActionApply, changes: []string{FieldPassiveSignInURI},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch.PassiveSignInURI != sso || p.Patch.SigningCertificate != "" {
					t.Errorf("patch %+v", p.Patch)
				}
			},
		},
		{
			name: "endpoint moved and certificate expiring: both said", current: fed(expiring, func(f *inventory.Federation) { f.PassiveSignInURI = "https://old.example/sso" }),
			obs: ok(entity(expiring)), policy: PolicyPropose,
			outcome: OutcomeEndpointChanged, action: ActionPropose, changes: []string{FieldPassiveSignInURI},
			check: func(t *testing.T, p ChangePlan) {
				if len(p.Notes) != 1 || !strings.Contains(p.Notes[0], "expires") {
					t.Errorf("notes %v", p.Notes)
				}
			},
		},
		{
			name: "WS-Fed partner dropped its STS role: protocol changes", current: fed(current, func(f *inventory.Federation) {
				f.PreferredProtocol, f.PassiveSignInURI = ProtocolWSFed, wsfed
			}),
			obs: ok(with(entity(current), func(e *Entity) { e.WSFed = nil })), policy: PolicyAuto,
			outcome: OutcomeEndpointChanged, action: ActionApply, changes: []string{FieldPreferredProtocol, FieldPassiveSignInURI},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch.PreferredProtocol != ProtocolSAML || p.Patch.PassiveSignInURI != sso {
					t.Errorf("patch %+v", p.Patch)
				}
			},
		},
		{
			name: "WS-Fed role expired since it was read counts as absent", current: fed(current, func(f *inventory.Federation) {
				f.PreferredProtocol, f.PassiveSignInURI = ProtocolWSFed, wsfed
			}),
			obs: ok(with(entity(current), func(e *Entity) { past := now.Add(-time.Minute); e.WSFed.ValidUntil = &past })), policy: PolicyAuto,
			outcome: OutcomeEndpointChanged, action: ActionApply, changes: []string{FieldPreferredProtocol, FieldPassiveSignInURI},
		},
		{
			name: "WS-Fed role valid until later is used", current: fed(current, func(f *inventory.Federation) {
				f.PreferredProtocol, f.PassiveSignInURI = ProtocolWSFed, wsfed
			}),
			obs: ok(with(entity(current), func(e *Entity) { later := now.Add(time.Minute); e.WSFed.ValidUntil = &later })), policy: PolicyAuto,
			outcome: OutcomeInSync, action: ActionNone,
		},
		{
			name: "WS-Fed partner in sync", current: fed(current, func(f *inventory.Federation) {
				f.PreferredProtocol, f.PassiveSignInURI = ProtocolWSFed, wsfed
			}),
			obs: ok(entity(current)), policy: PolicyAuto, outcome: OutcomeInSync, action: ActionNone,
		},
		{
			name: "issuer changed is never applied", current: fed(current, func(f *inventory.Federation) { f.IssuerURI = "https://old-issuer.example/" }),
			obs: ok(entity(fresh)), policy: PolicyAuto,
			outcome: OutcomeIssuerChanged, action: ActionPropose, changes: []string{FieldIssuerURI, FieldSigningCertificate},
			check: func(t *testing.T, p ChangePlan) {
				if p.Patch.IssuerURI != issuer || p.Patch.SigningCertificate != fresh.b64() {
					t.Errorf("patch %+v", p.Patch)
				}
			},
		},
		{
			name: "issuer changed is a proposal even under notify", current: fed(current, func(f *inventory.Federation) { f.IssuerURI = "https://old-issuer.example/" }),
			obs: ok(entity(current)), policy: PolicyNotify,
			outcome: OutcomeIssuerChanged, action: ActionPropose, changes: []string{FieldIssuerURI},
		},
		{
			name: "unreachable keeps the last good metadata", current: fed(current),
			obs:    Observation{Err: &Error{Kind: KindUnreachable, URL: "https://md.example/", Detail: "connection refused"}, Last: last},
			policy: PolicyAuto, outcome: OutcomeMetadataFailure, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if p.FailureKind != KindUnreachable || p.LastGoodFetchedAt == nil || !p.LastGoodFetchedAt.Equal(last.FetchedAt) ||
					p.Patch != nil || !strings.Contains(p.Reason, "kept") {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "unsigned when required", current: fed(current), obs: Observation{Err: errorf(KindUnsigned, "no signature")},
			policy: PolicyAuto, outcome: OutcomeMetadataFailure, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if p.FailureKind != KindUnsigned || !strings.Contains(p.Reason, "no earlier good metadata") {
					t.Errorf("plan %+v", p)
				}
			},
		},
		{
			name: "invalid signature", current: fed(current), obs: Observation{Err: errorf(KindSignature, "digest mismatch"), Last: last},
			policy: PolicyAuto, outcome: OutcomeMetadataFailure, action: ActionNotify,
		},
		{
			name: "not-modified metadata that has since expired", current: fed(current),
			obs: Observation{Entity: with(entity(current), func(e *Entity) {
				vu := now.Add(-time.Minute)
				e.ValidUntil = &vu
			}), NotModified: true, Trusted: true, Last: last},
			policy: PolicyAuto, outcome: OutcomeMetadataFailure, action: ActionNotify,
			check: func(t *testing.T, p ChangePlan) {
				if p.FailureKind != KindExpired {
					t.Errorf("failure kind %q", p.FailureKind)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := Plan(tc.current, tc.obs, tc.policy, now, PlanOptions{})
			if p.Outcome != tc.outcome || p.Action != tc.action {
				t.Fatalf("outcome %s/%s, want %s/%s (reason: %s)", p.Outcome, p.Action, tc.outcome, tc.action, p.Reason)
			}
			var fields []string
			for _, c := range p.Changes {
				fields = append(fields, c.Field)
			}
			if strings.Join(fields, ",") != strings.Join(tc.changes, ",") {
				t.Fatalf("changes %v, want %v", fields, tc.changes)
			}
			if (p.Action == ActionApply || p.Action == ActionPropose) != (p.Patch != nil) {
				t.Fatalf("action %s with patch %+v", p.Action, p.Patch)
			}
			if p.Reason == "" || strings.Count(p.Reason, ". ") > 0 || !strings.HasPrefix(p.ID, "mdplan-") || p.PartnerID != "fed-1" {
				t.Fatalf("reason %q, id %q", p.Reason, p.ID)
			}
			for _, c := range p.Changes {
				if len(c.To) > 200 || len(c.From) > 200 {
					t.Fatalf("change shows more than a thumbprint: %+v", c)
				}
			}
			if tc.check != nil {
				tc.check(t, p)
			}
			again := Plan(tc.current, tc.obs, tc.policy, now, PlanOptions{})
			if again.ID != p.ID {
				t.Fatalf("plan ID not deterministic: %s vs %s", p.ID, again.ID)
			}
		})
	}
}

func TestPlanIDNamesTheChange(t *testing.T) {
	a := keyValid(t, "rsa-current", testNow.AddDate(-1, 0, 0), 3*365)
	b := keyValid(t, "rsa-fresh", testNow.AddDate(0, 0, -10), 3*365)
	c := keyValid(t, "rsa-fresher", testNow.AddDate(0, 0, -5), 3*365)
	f := inventory.Federation{ID: "fed-1", IssuerURI: "urn:i", PassiveSignInURI: "https://s", SigningCertificateBase64: a.b64()}
	ent := func(k *testKey) Observation {
		return Observation{Trusted: true, Entity: &Entity{EntityID: "urn:i", SAML: &Role{
			SigningCertificates: []SigningCertificate{sc(k)}, SingleSignOnServices: []Endpoint{{BindingHTTPRedirect, "https://s"}}}}}
	}
	toB := Plan(f, ent(b), PolicyPropose, testNow, PlanOptions{})
	toC := Plan(f, ent(c), PolicyPropose, testNow, PlanOptions{})
	auto := Plan(f, ent(b), PolicyAuto, testNow, PlanOptions{})
	other := f
	other.ID = "fed-2"
	otherPartner := Plan(other, ent(b), PolicyPropose, testNow, PlanOptions{})
	if toB.ID == toC.ID || toB.ID == otherPartner.ID {
		t.Fatalf("different changes or partners must have different IDs: %s %s %s", toB.ID, toC.ID, otherPartner.ID)
	}
	if toB.ID != auto.ID {
		t.Fatalf("the same change under another policy keeps its ID: %s vs %s", toB.ID, auto.ID)
	}
}

func TestPlanLeadTime(t *testing.T) {
	k := keyValid(t, "rsa-expiring", testNow.AddDate(-1, 0, 0), 375) // 10 days left
	f := inventory.Federation{ID: "fed-1", IssuerURI: "urn:i", PassiveSignInURI: "https://s", SigningCertificateBase64: k.b64()}
	obs := Observation{Trusted: true, Entity: &Entity{EntityID: "urn:i", SAML: &Role{
		SigningCertificates: []SigningCertificate{sc(k)}, SingleSignOnServices: []Endpoint{{BindingHTTPRedirect, "https://s"}}}}}
	if p := Plan(f, obs, PolicyAuto, testNow, PlanOptions{LeadTime: 7 * 24 * time.Hour}); p.Outcome != OutcomeInSync {
		t.Fatalf("7-day lead time: %s", p.Outcome)
	}
	if p := Plan(f, obs, PolicyAuto, testNow, PlanOptions{LeadTime: 14 * 24 * time.Hour}); p.Outcome != OutcomeCertificateExpiring {
		t.Fatalf("14-day lead time: %s", p.Outcome)
	}
}

func TestWritePlan(t *testing.T) {
	cur := keyValid(t, "rsa-current", testNow.AddDate(-1, 0, 0), 3*365)
	fresh := keyValid(t, "rsa-fresh", testNow.AddDate(0, 0, -10), 3*365)
	f := inventory.Federation{ID: "fed-1", IssuerURI: "urn:i", PassiveSignInURI: "https://s", SigningCertificateBase64: cur.b64()}
	obs := Observation{Trusted: true, Entity: &Entity{EntityID: "urn:i", SAML: &Role{
		SigningCertificates: []SigningCertificate{sc(fresh)}, SingleSignOnServices: []Endpoint{{BindingHTTPRedirect, "https://s"}}}}}
	p := Plan(f, obs, PolicyPropose, testNow, PlanOptions{})

	var text bytes.Buffer
	if err := WritePlan(&text, p, FormatText); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{p.ID, "certificate-replaced", "propose", "signingCertificate", cur.sha256(), fresh.sha256()} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text lacks %q:\n%s", want, text.String())
		}
	}
	if strings.Contains(text.String(), fresh.b64()[:40]) {
		t.Error("text should show thumbprints, not certificate bodies")
	}

	var js bytes.Buffer
	if err := WritePlan(&js, p, FormatJSON); err != nil {
		t.Fatal(err)
	}
	var back struct {
		ID      string `json:"id"`
		Outcome string `json:"outcome"`
		Action  string `json:"action"`
		Patch   struct {
			SigningCertificate string `json:"signingCertificate"`
		} `json:"patch"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.ID != p.ID || back.Outcome != string(OutcomeCertificateReplaced) || back.Action != "propose" || back.Patch.SigningCertificate != fresh.b64() {
		t.Fatalf("json %s", js.String())
	}
	if err := WritePlan(&js, p, "yaml"); err == nil {
		t.Fatal("unknown format must fail")
	}
}

// The certificate helpers live in shared/inventory (used here and by the
// tenant reader for Entra's signingCertificate).
func TestInventoryCertificateHelpers(t *testing.T) {
	k := key(t, "rsa-partner")
	b64 := k.b64()
	broken := " " + b64[:10] + "\n\t" + b64[10:50] + "\r\n" + b64[50:] + "\n"
	c, err := inventory.ParseCertificateBase64(broken)
	if err != nil {
		t.Fatal(err)
	}
	if c.SHA256 != k.sha256() || len(c.SHA1) != 40 || strings.ToUpper(c.SHA1) != c.SHA1 ||
		c.Subject != "CN=rsa-partner" || !c.NotAfter.Equal(k.notAfter()) || c.NotAfter.Location() != time.UTC {
		t.Fatalf("%+v", c)
	}
	for _, bad := range []string{"", "not base64!", "aGVsbG8="} {
		if _, err := inventory.ParseCertificateBase64(bad); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
