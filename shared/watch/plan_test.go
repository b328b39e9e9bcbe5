package watch_test

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

var t0 = time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC)

var rules = watch.Rules{Failures: 3, DownAfter: 20 * time.Minute, LatencyBudget: 2 * time.Second, DegradedPercent: 10, MinChecks: 3, RecoveredFor: 24 * time.Hour}

func up(at time.Time) watch.Result {
	return watch.Result{At: at, State: watch.Up, Class: watch.ClassOK, HTTP: 200, LatencyMs: 120}
}

func down(at time.Time) watch.Result {
	return watch.Result{At: at, State: watch.Down, Class: watch.ClassConnect, Detail: "no TCP connection: connection refused"}
}

// seq records states ("u", "d", "s") every step from start.
func seq(h *watch.History, start time.Time, step time.Duration, states string) time.Time {
	at := start
	for _, c := range states {
		switch c {
		case 'u':
			h.Record(up(at), rules)
		case 'd':
			h.Record(down(at), rules)
		case 's':
			h.Record(watch.Result{At: at, State: watch.Skipped, Class: watch.ClassNotHTTPS}, rules)
		}
		at = at.Add(step)
	}
	return at.Add(-step)
}

func TestOutageOpensAndCloses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		step      time.Duration
		states    string
		down      bool
		since     time.Duration // offset of the outage start from t0; -1: none open
		recovered bool
		closed    int
	}{
		{"all up", 10 * time.Minute, "uuuuu", false, -1, false, 0},
		{"first failure opens a run, not an outage", 10 * time.Minute, "uuud", false, 30 * time.Minute, false, 0},
		{"N failures spanning M: down since the first", 10 * time.Minute, "uuddd", true, 20 * time.Minute, false, 0},
		{"N failures within less than M: not yet", 2 * time.Minute, "uuddd", false, 4 * time.Minute, false, 0},
		{"M reached later", 2 * time.Minute, "uudddddddddddd", true, 4 * time.Minute, false, 0},
		{"a success closes a confirmed outage", 10 * time.Minute, "udddu", false, -1, true, 1},
		{"a blip closes without an outage", 10 * time.Minute, "uddu", false, -1, false, 0},
		{"skipped checks neither open nor close", 10 * time.Minute, "uddsd", true, 10 * time.Minute, false, 0},
		{"a second outage is a new one", 10 * time.Minute, "udddudddd", true, 50 * time.Minute, false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &watch.History{}
			end := seq(h, t0, tc.step, tc.states)
			s := watch.StatusOf(h, end, rules)
			if s.Down != tc.down {
				t.Errorf("down = %v, want %v", s.Down, tc.down)
			}
			switch {
			case tc.since < 0 && s.Outage != nil:
				t.Errorf("an outage is open since %v", s.Outage.Since)
			case tc.since >= 0 && (s.Outage == nil || !s.Outage.Since.Equal(t0.Add(tc.since))):
				t.Errorf("outage = %+v, want since %v", s.Outage, t0.Add(tc.since))
			}
			if (s.Recovered != nil) != tc.recovered {
				t.Errorf("recovered = %+v", s.Recovered)
			}
			if len(h.Outages) != tc.closed {
				t.Errorf("%d closed outages, want %d", len(h.Outages), tc.closed)
			}
		})
	}
}

// A flapping endpoint never fails N times in a row, so it is never down —
// it is degraded by its error rate.
func TestFlappingIsDegradedNotDown(t *testing.T) {
	h := &watch.History{}
	end := seq(h, t0, 10*time.Minute, strings.Repeat("ud", 24))
	s := watch.StatusOf(h, end, rules)
	if s.Down || s.Outage != nil && s.Outage.Failures > 1 {
		t.Fatalf("flapping endpoint is down: %+v", s.Outage)
	}
	if got := s.Degraded(rules); got != "errors" {
		t.Errorf("degraded = %q, want errors (%d of %d failed)", got, s.Failures24h, s.Checks24h)
	}
	if a := *s.Availability.Day1; a != 0.5 {
		t.Errorf("1-day availability %v, want 0.5", a)
	}
}

func TestSlowIsDegraded(t *testing.T) {
	h := &watch.History{}
	for i := 0; i < 20; i++ {
		r := up(t0.Add(time.Duration(i) * 10 * time.Minute))
		r.LatencyMs = 3000
		if i < 2 {
			r.LatencyMs = 100
		}
		h.Record(r, rules)
	}
	s := watch.StatusOf(h, t0.Add(200*time.Minute), rules)
	if s.Degraded(rules) != "latency" || s.P95Ms24h != 3000 {
		t.Errorf("degraded %q p95 %d", s.Degraded(rules), s.P95Ms24h)
	}
	lenient := rules
	lenient.LatencyBudget = 5 * time.Second
	if got := watch.StatusOf(h, t0.Add(200*time.Minute), lenient).Degraded(lenient); got != "" {
		t.Errorf("within a 5 s budget: degraded %q", got)
	}
}

// Results older than the start of yesterday are folded into day summaries;
// availability over 7 and 30 days adds them; 90 days are kept.
func TestCompactionAndAvailability(t *testing.T) {
	h := &watch.History{}
	start := t0.AddDate(0, 0, -100)
	// 100 days every hour: down for the whole of day -3 (relative to t0).
	badDay := t0.AddDate(0, 0, -3).Format("2006-01-02")
	for at := start; !at.After(t0); at = at.Add(time.Hour) {
		r := up(at)
		if at.Format("2006-01-02") == badDay {
			r = down(at)
		}
		if !h.Record(r, rules) {
			t.Fatalf("result at %v not taken", at)
		}
	}
	yesterday := time.Date(2026, 11, 19, 0, 0, 0, 0, time.UTC)
	if first := h.Results[0].At; first.Before(yesterday) {
		t.Errorf("raw results reach back to %v, before the start of yesterday", first)
	}
	if len(h.Results) != 24+7 { // yesterday whole, today 00:00..06:00
		t.Errorf("%d raw results", len(h.Results))
	}
	if len(h.Days) != watch.KeepDays-1 {
		// days -90..-2 (today and yesterday are raw)
		t.Errorf("%d day summaries, want %d", len(h.Days), watch.KeepDays-1)
	}
	for _, d := range h.Days {
		if d.Date == badDay && (d.Down != 24 || d.Up != 0) {
			t.Errorf("bad day summary %+v", d)
		}
		if d.Date != badDay && d.Date != h.Days[0].Date && (d.Up != 24 || d.LatencyMsSum != 24*120 || d.LatencyMsMax != 120) {
			t.Errorf("day %+v", d)
		}
	}
	s := watch.StatusOf(h, t0, rules)
	if *s.Availability.Day1 != 1 {
		t.Errorf("1d %v", *s.Availability.Day1)
	}
	// 7 days: Nov 13..18 compacted (6×24, one bad day) + 31 raw.
	if got, want := *s.Availability.Day7, float64(5*24+31)/float64(6*24+31); got != want {
		t.Errorf("7d %v, want %v", got, want)
	}
	if got := *s.Availability.Day30; got <= *s.Availability.Day7 || got >= 1 {
		t.Errorf("30d %v", got)
	}
	// A repeat of the last result is not taken.
	if h.Record(up(t0), rules) {
		t.Error("a repeated result was recorded twice")
	}
}

func TestNoChecksNoFigures(t *testing.T) {
	s := watch.StatusOf(&watch.History{}, t0, rules)
	if s.Availability.Day1 != nil || s.Availability.Day7 != nil || s.Availability.Day30 != nil || s.Last != nil {
		t.Errorf("%+v", s)
	}
}

// ---- findings

func exampleInventory() (inventory.Inventory, *config.Config) {
	inv := inventory.Inventory{
		Federations: []inventory.Federation{
			{ID: "fed-1", DisplayName: "Fabrikam", PassiveSignInURI: "https://sts.fabrikam.example/adfs/ls/?wa=x", Domains: []string{"fabrikam.example"}},
			{ID: "fed-2", DisplayName: "Litware", PassiveSignInURI: "https://login.litware.example/sso", Domains: []string{"litware.example"}},
			{ID: "fed-3", DisplayName: "Hidden", PassiveSignInURI: "https://idp.hidden.example/sso", Domains: []string{"hidden.example"}},
		},
		SocialIdentityProviders: []inventory.SocialIdentityProvider{
			{ID: "Google-OAUTH", DisplayName: "Google", Type: "Google"},
			{ID: "Facebook-OAUTH", DisplayName: "Facebook", Type: "Facebook"},
			{ID: "Amazon-OAUTH", DisplayName: "Amazon", Type: "Amazon"},
		},
		APIConnectors: []inventory.APIConnector{
			{ID: "conn-1", DisplayName: "Loyalty", TargetURL: "https://api.contoso.example/check?code=SECRETKEY", AuthType: inventory.AuthBasic},
			{ID: "conn-2", DisplayName: "Unused", TargetURL: "https://unused.contoso.example/"},
		},
		UserFlows: []inventory.UserFlow{{
			ID: "B2X_1_signup", IdentityProviders: []inventory.UserFlowIdentityProvider{{ID: "Google-OAUTH"}, {ID: "fed-1"}},
			PostFederationSignup: "conn-1", PostAttributeCollection: "conn-1",
		}},
	}
	lead := config.Duration(30 * 24 * time.Hour)
	cfg := config.Default()
	cfg.Owners = []config.Owner{{Name: "fabrikam-it", Email: "it@fabrikam.example", Organisation: "Fabrikam"}}
	cfg.FallbackAdmin = "admins@contoso.example"
	cfg.Dependencies = []config.Dependency{
		{Ref: "federation/fabrikam.example", Owner: "fabrikam-it", LeadTime: &lead,
			Metadata: &config.Metadata{URL: "https://sts.fabrikam.example/FederationMetadata.xml?token=T", AllowNetworks: []string{"10.9.0.0/16"}},
			Watch:    &config.DependencyWatch{AllowNetworks: []string{"10.8.0.0/16"}}},
		{Ref: "federation/hidden.example", Watch: &config.DependencyWatch{Disabled: true}},
	}
	return inv, cfg
}

func byRole(eps []watch.Endpoint, ref string, role watch.Role) *watch.Endpoint {
	for i := range eps {
		if inventory.SameRef(eps[i].Dependency.Ref, ref) && eps[i].Role == role {
			return &eps[i]
		}
	}
	return nil
}

func TestEndpointsOfAnInventory(t *testing.T) {
	inv, cfg := exampleInventory()
	eps := watch.Endpoints(inv, cfg)
	// Fabrikam sign-in + metadata, Litware sign-in, Google 2, Facebook 2,
	// Loyalty at two steps, Unused once. Amazon has no published list;
	// Hidden is disabled.
	if len(eps) != 10 {
		for _, e := range eps {
			t.Log(e.Dependency.Ref, e.Role, e.Step, e.Display)
		}
		t.Fatalf("%d endpoints, want 10", len(eps))
	}
	signIn := byRole(eps, "federation/fed-1", watch.RoleSignIn)
	if signIn == nil || signIn.Display != "https://sts.fabrikam.example/adfs/ls/" || !signIn.Guests() ||
		!reflect.DeepEqual(signIn.Domains, []string{"fabrikam.example"}) || !reflect.DeepEqual(signIn.UserFlows, []string{"B2X_1_signup"}) {
		t.Errorf("sign-in %+v", signIn)
	}
	md := byRole(eps, "federation/fed-1", watch.RoleMetadata)
	if md == nil || md.Guests() || strings.Contains(md.Display, "token") || !strings.Contains(md.URL, "token=T") {
		t.Fatalf("metadata %+v", md)
	}
	if err := md.Network.CheckAddr(netip.MustParseAddr("10.9.1.1")); err != nil {
		t.Errorf("metadata.allowNetworks not applied to the metadata URL check: %v", err)
	}
	if err := md.Network.CheckAddr(netip.MustParseAddr("10.8.1.1")); err != nil {
		t.Errorf("watch.allowNetworks not applied to the metadata URL check: %v", err)
	}
	if err := signIn.Network.CheckAddr(netip.MustParseAddr("10.9.1.1")); err == nil {
		t.Error("metadata.allowNetworks opened the sign-in endpoint too")
	}
	tok := byRole(eps, "social/Google-OAUTH", watch.RoleToken)
	if tok == nil || tok.URL != "https://oauth2.googleapis.com/token" || tok.Method != "POST" || !tok.Guests() {
		t.Errorf("google token %+v", tok)
	}
	if fb := byRole(eps, "social/Facebook-OAUTH", watch.RoleAuthorization); fb == nil || fb.Guests() {
		t.Errorf("facebook (offered by no flow) %+v", fb)
	}
	var steps []probe.Step
	for _, e := range eps {
		if e.Dependency.Ref == "connector/conn-1" {
			steps = append(steps, e.Step)
			if strings.Contains(e.Display, "SECRETKEY") || e.Key == "" {
				t.Errorf("connector endpoint %+v", e)
			}
		}
	}
	if len(steps) != 2 || steps[0] == steps[1] {
		t.Errorf("connector steps %v", steps)
	}
	if u := byRole(eps, "connector/conn-2", watch.RoleAPI); u == nil || u.SignInPath || u.Step != probe.StepPostFederationSignup {
		t.Errorf("unused connector %+v", u)
	}
	// Keys are stable and distinct.
	again := watch.Endpoints(inv, cfg)
	seen := map[string]bool{}
	for i := range eps {
		if eps[i].Key != again[i].Key || seen[eps[i].Key] {
			t.Errorf("key %s unstable or repeated", eps[i].Key)
		}
		seen[eps[i].Key] = true
	}
}

func statusOf(t *testing.T, ep watch.Endpoint, now time.Time, build func(h *watch.History)) watch.Status {
	t.Helper()
	h := &watch.History{Endpoint: watch.InfoOf(ep)}
	build(h)
	return watch.StatusOf(h, now, rules)
}

func TestFindingsSeverityAndImpact(t *testing.T) {
	inv, cfg := exampleInventory()
	eps := watch.Endpoints(inv, cfg)
	fabSignIn := *byRole(eps, "federation/fed-1", watch.RoleSignIn)
	fabMeta := *byRole(eps, "federation/fed-1", watch.RoleMetadata)
	litware := *byRole(eps, "federation/fed-2", watch.RoleSignIn)
	unused := *byRole(eps, "connector/conn-2", watch.RoleAPI)
	googleTok := *byRole(eps, "social/Google-OAUTH", watch.RoleToken)
	now := t0.Add(time.Hour)
	outage := func(h *watch.History) { seq(h, t0, 10*time.Minute, "uuddddd") }

	statuses := map[string]watch.Status{
		fabSignIn.Key: statusOf(t, fabSignIn, now, outage),
		fabMeta.Key:   statusOf(t, fabMeta, now, outage),
		litware.Key:   statusOf(t, litware, now, outage),
		unused.Key:    statusOf(t, unused, now, outage),
		googleTok.Key: statusOf(t, googleTok, now, func(h *watch.History) { seq(h, t0, 10*time.Minute, "uuu") }),
	}
	// Litware's run has no guest domains? It has: litware.example — so
	// take them away to see critical.
	litwareNoGuests := litware
	litwareNoGuests.Domains = nil
	eps2 := []watch.Endpoint{fabSignIn, fabMeta, litwareNoGuests, unused, googleTok}
	fs := watch.Findings(inv, cfg, eps2, statuses, now, rules)
	want := map[string]assess.Severity{fabSignIn.Key: assess.Expired, fabMeta.Key: assess.Warning, litware.Key: assess.Critical, unused.Key: assess.Critical}
	n := 0
	for _, f := range fs {
		if f.Kind != watch.KindDown {
			t.Errorf("unexpected %s for %s", f.Kind, f.Detail["endpoint"])
			continue
		}
		n++
		var key string
		for _, e := range eps2 {
			if e.Display == f.Detail["endpoint"] && string(e.Role) == f.Detail["role"] {
				key = e.Key
			}
		}
		if f.Severity != want[key] {
			t.Errorf("%s %s: severity %s, want %s", f.Dependency.Name, f.Detail["role"], f.Severity, want[key])
		}
		if f.Due == nil || !f.Due.Equal(t0.Add(20*time.Minute)) || f.Detail["outageSince"] != "2026-11-20T06:20:00Z" || f.Detail["consecutiveFailures"] != "5" || f.Detail["lastError"] != watch.ClassConnect {
			t.Errorf("%s: due %v detail %v", f.Dependency.Name, f.Due, f.Detail)
		}
	}
	if n != 4 {
		t.Fatalf("%d down findings, want 4", n)
	}
	for _, f := range fs {
		if f.Detail["endpoint"] == fabSignIn.Display && f.Detail["role"] == "sign-in" {
			if !reflect.DeepEqual(f.ImpactedDomains, []string{"fabrikam.example"}) || !reflect.DeepEqual(f.ImpactedUserFlows, []string{"B2X_1_signup"}) ||
				f.Owner == nil || f.Owner.Email != "it@fabrikam.example" || !strings.Contains(f.Action, "guests from fabrikam.example") {
				t.Errorf("fabrikam down: %+v", f)
			}
		}
		if f.Detail["role"] == "metadata" && (f.Detail["guestsAffected"] != "false" || !strings.Contains(f.Action, "guests are not affected")) {
			t.Errorf("metadata down: %+v", f)
		}
		if f.Dependency.Ref == "connector/conn-2" && (f.Owner == nil || !f.Owner.Fallback) {
			t.Errorf("unowned connector goes to the fallback admin: %+v", f.Owner)
		}
	}

	// The same outage keeps its ID; recovery closes it with a finding that
	// names it.
	again := watch.Findings(inv, cfg, eps2, statuses, now.Add(10*time.Minute), rules)
	if again[0].ID != fs[0].ID {
		t.Error("the down finding's ID changed while the outage lasts")
	}
	rec := statusOf(t, fabSignIn, now, func(h *watch.History) { seq(h, t0, 10*time.Minute, "uuddddu") })
	fs = watch.Findings(inv, cfg, []watch.Endpoint{fabSignIn}, map[string]watch.Status{fabSignIn.Key: rec}, now, rules)
	if len(fs) != 1 || fs[0].Kind != watch.KindRecovered || fs[0].Severity != assess.Info || fs[0].Due != nil {
		t.Fatalf("recovery: %+v", fs)
	}
	downID := assess.NewID(watch.KindDown, fabSignIn.Key, "2026-11-20T06:20:00Z")
	if fs[0].Detail["downFinding"] != downID || fs[0].Detail["recoveredAt"] != "2026-11-20T07:00:00Z" || fs[0].Detail["outageDuration"] != "40m0s" {
		t.Errorf("recovered detail %v (down finding %s)", fs[0].Detail, downID)
	}
	// After RecoveredFor it is no longer reported.
	if fs := watch.Findings(inv, cfg, []watch.Endpoint{fabSignIn}, map[string]watch.Status{fabSignIn.Key: statusOf(t, fabSignIn, now.Add(25*time.Hour), func(h *watch.History) { seq(h, t0, 10*time.Minute, "uuddddu") })}, now.Add(25*time.Hour), rules); len(fs) != 0 {
		t.Errorf("recovery still reported a day later: %+v", fs)
	}
}

func TestTLSLeadTimes(t *testing.T) {
	inv, cfg := exampleInventory()
	eps := watch.Endpoints(inv, cfg)
	fab := *byRole(eps, "federation/fed-1", watch.RoleSignIn)      // lead 30d (config)
	google := *byRole(eps, "social/Google-OAUTH", watch.RoleToken) // social: 7d
	withCert := func(ep watch.Endpoint, notAfter time.Time) watch.Status {
		return statusOf(t, ep, t0, func(h *watch.History) {
			r := up(t0)
			r.TLS = &watch.TLSInfo{Subject: ep.Host(), NotAfter: notAfter, SHA256: "AB", Verified: true}
			h.Record(r, rules)
		})
	}
	for _, tc := range []struct {
		ep    watch.Endpoint
		left  time.Duration
		sev   assess.Severity
		found bool
	}{
		{fab, 40 * 24 * time.Hour, 0, false},
		{fab, 20 * 24 * time.Hour, assess.Warning, true},
		{fab, 5 * 24 * time.Hour, assess.Critical, true},
		{fab, -time.Hour, assess.Expired, true},
		{google, 20 * 24 * time.Hour, 0, false},
		{google, 5 * 24 * time.Hour, assess.Critical, true},
	} {
		fs := watch.Findings(inv, cfg, []watch.Endpoint{tc.ep}, map[string]watch.Status{tc.ep.Key: withCert(tc.ep, t0.Add(tc.left))}, t0, rules)
		if !tc.found {
			if len(fs) != 0 {
				t.Errorf("%s with %v left: %+v", tc.ep.Dependency.Name, tc.left, fs)
			}
			continue
		}
		if len(fs) != 1 || fs[0].Kind != watch.KindTLSExpiring || fs[0].Severity != tc.sev || fs[0].Due == nil || !fs[0].Due.Equal(t0.Add(tc.left)) || fs[0].Detail["host"] != tc.ep.Host() {
			t.Errorf("%s with %v left: %+v", tc.ep.Dependency.Name, tc.left, fs)
		}
	}
	// An intermediate that expires first counts.
	st := statusOf(t, fab, t0, func(h *watch.History) {
		r := up(t0)
		inter := t0.Add(3 * 24 * time.Hour)
		r.TLS = &watch.TLSInfo{Subject: "sts.fabrikam.example", NotAfter: t0.Add(300 * 24 * time.Hour), ChainNotAfter: &inter}
		h.Record(r, rules)
	})
	if fs := watch.Findings(inv, cfg, []watch.Endpoint{fab}, map[string]watch.Status{fab.Key: st}, t0, rules); len(fs) != 1 || fs[0].Severity != assess.Critical {
		t.Errorf("intermediate expiring: %+v", fs)
	}
}

func TestDegradedFindingOncePerWeek(t *testing.T) {
	inv, cfg := exampleInventory()
	eps := watch.Endpoints(inv, cfg)
	ep := *byRole(eps, "federation/fed-1", watch.RoleSignIn)
	build := func(h *watch.History) { seq(h, t0, 10*time.Minute, strings.Repeat("uud", 10)) }
	now := t0.Add(5 * time.Hour)
	a := watch.Findings(inv, cfg, []watch.Endpoint{ep}, map[string]watch.Status{ep.Key: statusOf(t, ep, now, build)}, now, rules)
	if len(a) != 1 || a[0].Kind != watch.KindDegraded || a[0].Severity != assess.Warning || a[0].Due != nil || a[0].Detail["reason"] != "errors" {
		t.Fatalf("%+v", a)
	}
	later := now.Add(24 * time.Hour)
	b := watch.Findings(inv, cfg, []watch.Endpoint{ep}, map[string]watch.Status{ep.Key: statusOf(t, ep, now, build)}, later, rules)
	nextWeek := watch.Findings(inv, cfg, []watch.Endpoint{ep}, map[string]watch.Status{ep.Key: statusOf(t, ep, now, build)}, now.AddDate(0, 0, 7), rules)
	if len(b) != 1 || b[0].ID != a[0].ID || len(nextWeek) != 1 || nextWeek[0].ID == a[0].ID {
		t.Error("degraded findings are not one per endpoint and ISO week")
	}
}

func TestSchedule(t *testing.T) {
	s, err := watch.ParseSchedule(watch.DefaultSchedule)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ after, want string }{
		{"2026-11-20T06:00:00Z", "2026-11-20T06:10:00Z"},
		{"2026-11-20T06:03:17Z", "2026-11-20T06:10:00Z"},
		{"2026-11-20T23:55:00Z", "2026-11-21T00:00:00Z"},
	} {
		after, _ := time.Parse(time.RFC3339, tc.after)
		if got := s.Next(after).Format(time.RFC3339); got != tc.want {
			t.Errorf("after %s: %s, want %s", tc.after, got, tc.want)
		}
	}
	daily, _ := watch.ParseSchedule("0 0 6 * * 1-5")
	if got := daily.Next(time.Date(2026, 11, 20, 7, 0, 0, 0, time.UTC)); !got.Equal(time.Date(2026, 11, 23, 6, 0, 0, 0, time.UTC)) {
		t.Errorf("weekdays at 06:00 after Friday 07:00: %v", got)
	}
	for _, bad := range []string{"*/10 * * * *", "0 */0 * * * *", "0 61 * * * *", "0 a * * * *", "0 5-1 * * * *"} {
		if _, err := watch.ParseSchedule(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
