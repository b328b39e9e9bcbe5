package probe_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/idpkeeper/idpkeeper/shared/probe"
)

// connectorAPI answers by the "case" claim: every documented shape, and
// the wrong ones API teams send by mistake. It keeps the bodies it got.
type connectorAPI struct {
	mu     sync.Mutex
	bodies []map[string]any
}

func (c *connectorAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	json.NewDecoder(r.Body).Decode(&body)
	c.mu.Lock()
	c.bodies = append(c.bodies, body)
	c.mu.Unlock()
	if _, pw, _ := r.BasicAuth(); pw != canaryPassword {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	json := func(status int, s string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		io.WriteString(w, s)
	}
	switch body["case"] {
	case "continue":
		json(200, `{"version":"1.0.0","action":"Continue","postalCode":"98052"}`)
	case "block":
		json(200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"Sign-up is closed for your organisation."}`)
	case "validation":
		json(400, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"Please enter a valid Postal Code."}`)
	case "validation-string-status":
		json(400, `{"version":"1.0.0","status":"400","action":"ValidationError","userMessage":"Please enter a valid Postal Code."}`)
	case "validation-no-status":
		json(400, `{"version":"1.0.0","action":"ValidationError","userMessage":"Please enter a valid Postal Code."}`)
	case "text-plain":
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, `{"version":"1.0.0","action":"Continue"}`)
	case "no-version":
		json(200, `{"action":"Continue"}`)
	case "server-error":
		json(500, `{"error":"boom"}`)
	case "validation-as-200":
		json(200, `{"version":"1.0.0","status":400,"action":"ValidationError","userMessage":"x"}`)
	case "slow":
		time.Sleep(250 * time.Millisecond)
		json(200, `{"version":"1.0.0","action":"Continue"}`)
	case "echo":
		json(200, `{"version":"1.0.0","action":"ShowBlockPage","userMessage":"you sent `+r.Header.Get("Authorization")+`"}`)
	default:
		json(200, `{"version":"1.0.0","action":"Continue"}`)
	}
}

const scenarioYAML = `
scenarios:
  - name: partner employee continues
    step: postAttributeCollection
    claims: {case: continue, email: ann@fabrikam.example, givenName: Ann, postalCode: "98052", surname: null}
    expect: continue
    maxLatency: 5s
  - name: closed organisation is blocked
    step: postFederationSignup
    claims: {case: block}
    expect: block
    userMessage: "(?i)closed"
  - name: bad postal code
    claims: {case: validation}
    expect: validation-error
    userMessage: "(?i)postal"
  - name: status as a string is documented too
    claims: {case: validation-string-status}
    expect: validation-error
  - name: validation without status
    claims: {case: validation-no-status}
    expect: validation-error
  - name: wrong content type
    claims: {case: text-plain}
    expect: continue
  - name: no version
    claims: {case: no-version}
    expect: continue
  - name: server error
    claims: {case: server-error}
    expect: continue
  - name: message does not match
    claims: {case: block}
    expect: block
    userMessage: "^Welcome"
  - name: wrong outcome
    claims: {case: continue}
    expect: block
  - name: too slow for its budget
    claims: {case: slow}
    expect: continue
    maxLatency: 100ms
  - name: echoes the credential
    claims: {case: echo}
    expect: block
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRunScenariosJudgesEveryShape(t *testing.T) {
	api := &connectorAPI{}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	scs, err := probe.ParseScenarios("s.yaml", []byte(scenarioYAML))
	if err != nil {
		t.Fatal(err)
	}
	rep := probe.RunScenarios(context.Background(), probe.Request{URL: srv.URL + "/signup?code=FUNCTIONKEY", Client: srv.Client(),
		Auth: probe.Auth{BasicUser: "entra-signup", BasicPassword: canaryPassword}}, scs)
	want := map[string]struct {
		pass    bool
		outcome probe.Outcome
		reason  string
	}{
		"partner employee continues":           {true, probe.Continue, ""},
		"closed organisation is blocked":       {true, probe.Block, ""},
		"bad postal code":                      {true, probe.ValidationError, ""},
		"status as a string is documented too": {true, probe.ValidationError, ""},
		"validation without status":            {false, probe.ValidationError, "lacks status: 400"},
		"wrong content type":                   {false, probe.Continue, "Content-Type is text/plain, not application/json"},
		"no version":                           {false, probe.Malformed, `version must be "1.0.0"`},
		"server error":                         {false, probe.Malformed, "HTTP 500 outside the documented shapes"},
		"message does not match":               {false, probe.Block, `does not match "^Welcome"`},
		"wrong outcome":                        {false, probe.Continue, "expected block, got continue"},
		"too slow for its budget":              {false, probe.Continue, "more than maxLatency 100ms"},
		"echoes the credential":                {true, probe.Block, ""},
	}
	if rep.Passed != 5 || rep.Failed != 7 || len(rep.Scenarios) != 12 || strings.Contains(rep.URL, "FUNCTIONKEY") {
		t.Errorf("passed %d failed %d of %d, url %s", rep.Passed, rep.Failed, len(rep.Scenarios), rep.URL)
	}
	for _, r := range rep.Scenarios {
		w, ok := want[r.Name]
		if !ok {
			t.Errorf("unexpected scenario %q", r.Name)
			continue
		}
		if r.Pass != w.pass || r.Outcome != w.outcome || (w.reason == "") != (r.Reason == "") || !strings.Contains(r.Reason, w.reason) {
			t.Errorf("%s: pass %v outcome %s reason %q; want pass %v outcome %s reason containing %q", r.Name, r.Pass, r.Outcome, r.Reason, w.pass, w.outcome, w.reason)
		}
		if r.Status == 0 || r.LatencyMs < 0 {
			t.Errorf("%s: status %d latency %d", r.Name, r.Status, r.LatencyMs)
		}
	}
	// The echo of the credential is redacted in what is reported.
	b64 := base64.StdEncoding.EncodeToString([]byte("entra-signup:" + canaryPassword))
	out, _ := json.Marshal(rep)
	if strings.Contains(string(out), canaryPassword) || strings.Contains(string(out), b64) || !strings.Contains(string(out), "you sent Basic [redacted]") {
		t.Errorf("the echo is not redacted: %s", out)
	}
	// Requests are shaped as Entra sends them, claims merged over them.
	first := api.bodies[0]
	for k, v := range map[string]any{"step": "PostAttributeCollection", "client_id": probe.EntraClientID, "ui_locales": "en-US",
		"email": "ann@fabrikam.example", "givenName": "Ann", "postalCode": "98052", "displayName": "IdP Keeper probe"} {
		if first[k] != v {
			t.Errorf("request %s = %v, want %v", k, first[k], v)
		}
	}
	if _, ok := first["surname"]; ok {
		t.Error("a null claim was sent")
	}
	if ids, _ := first["identities"].([]any); len(ids) != 1 {
		t.Errorf("identities %v", first["identities"])
	}
	fed := api.bodies[1]
	if fed["step"] != "PostFederationSignup" || fed["givenName"] != nil {
		t.Errorf("post-federation request %v", fed)
	}
}

func TestScenarioValidationErrorAfterFederationIsRefused(t *testing.T) {
	_, err := probe.ParseScenarios("s.yaml", []byte("scenarios:\n  - {name: x, step: postFederationSignup, expect: validation-error}\n"))
	if err == nil || !strings.Contains(err.Error(), "only before creating the user") {
		t.Errorf("%v", err)
	}
	// An API that answers one anyway fails its scenario.
	api := &connectorAPI{}
	srv := httptest.NewTLSServer(api)
	defer srv.Close()
	scs, _ := probe.ParseScenarios("s.yaml", []byte("scenarios:\n  - {name: x, step: postFederationSignup, expect: continue, claims: {case: validation}}\n"))
	rep := probe.RunScenarios(context.Background(), probe.Request{URL: srv.URL, Client: srv.Client(), Auth: probe.Auth{BasicUser: "u", BasicPassword: canaryPassword}}, scs)
	if rep.Failed != 1 || !strings.Contains(rep.Scenarios[0].Reason, "no form to show it on") {
		t.Errorf("%+v", rep.Scenarios[0])
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, c := range []struct{ file, want string }{
		{"scenarios: []", "no scenarios"},
		{"nothing: 1", `field nothing not found`},
		{"scenarios:\n  - {name: a, expect: continue, colour: red}", "field colour not found"},
		{"scenarios:\n  - {expect: continue}", "scenarios[0]: name is required"},
		{"scenarios:\n  - {name: a, expect: continue}\n  - {name: A, expect: block}", "scenarios[1] (A): name is used twice"},
		{"scenarios:\n  - {name: a, expect: maybe}", "expect must be continue, validation-error or block"},
		{"scenarios:\n  - {name: a}", "expect is required"},
		{"scenarios:\n  - {name: a, expect: block, step: preSignIn}", "step must be"},
		{"scenarios:\n  - {name: a, expect: block, userMessage: '('}", "userMessage is not a regular expression"},
		{"scenarios:\n  - {name: a, expect: block, maxLatency: soon}", "maxLatency must be a positive duration"},
		{"scenarios:\n  - {name: a, expect: block, claims: {a: .nan}}", "cannot be sent as JSON"},
		{"{\"scenarios\": [{\"name\": \"a\", \"expect\": \"continue\", \"claims\": {\"email\": \"a@b.example\"}}]}", ""},
	} {
		scs, err := probe.ParseScenarios("f.yaml", []byte(c.file))
		switch {
		case c.want == "" && (err != nil || len(scs) != 1 || scs[0].Step != probe.StepPostAttributeCollection || scs[0].Claims["email"] != "a@b.example"):
			t.Errorf("%q: %v %+v", c.file, err, scs)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
	big := "scenarios:\n" + strings.Repeat("  - {name: x, expect: continue}\n", 1) + strings.Repeat("#", probe.MaxScenarioFileBytes)
	if _, err := probe.ParseScenarios("big.yaml", []byte(big)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("oversized file: %v", err)
	}
}

func FuzzParseScenarios(f *testing.F) {
	f.Add([]byte(scenarioYAML))
	f.Add([]byte(`{"scenarios":[{"name":"a","expect":"block","claims":{"x":[1,{"y":null}]}}]}`))
	f.Add([]byte("scenarios:\n  - &a {name: a, expect: continue}\n  - *a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		scs, err := probe.ParseScenarios("fuzz.yaml", data)
		if err != nil {
			return
		}
		for _, sc := range scs {
			if sc.Name == "" || (sc.Expect != probe.Continue && sc.Expect != probe.Block && sc.Expect != probe.ValidationError) {
				t.Fatalf("accepted %+v", sc)
			}
			var body map[string]any
			if err := json.Unmarshal(probe.RequestBody(sc.Step, sc.Claims), &body); err != nil {
				t.Fatalf("request body is not JSON: %v", err)
			}
		}
	})
}

// The command: --scenarios FILE, JSON exactly as the contract says, a table
// otherwise, exit 0 only when every scenario passes.
func TestAPICommandScenarios(t *testing.T) {
	api := &connectorAPI{}
	plain := httptest.NewServer(api) // the command's default client: plain http on loopback
	defer plain.Close()
	env := map[string]string{"PW": canaryPassword}
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := probe.APICommand(context.Background(), args, &out, &errOut, func(k string) string { return env[k] })
		return code, out.String(), errOut.String()
	}
	file := writeFile(t, "scenarios.yaml", scenarioYAML)
	code, out, errOut := run(plain.URL, "--scenarios", file, "--basic-user", "entra-signup", "--basic-password-env", "PW", "--format", "json")
	if code != 1 {
		t.Fatalf("exit %d with failing scenarios\n%s", code, errOut)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return k
	}
	if got := keys(raw); !reflect.DeepEqual(got, []string{"failed", "passed", "scenarios", "url"}) {
		t.Errorf("top-level keys %v", got)
	}
	first := raw["scenarios"].([]any)[0].(map[string]any)
	if got := keys(first); !reflect.DeepEqual(got, []string{"expect", "latencyMs", "name", "outcome", "pass", "reason", "status", "userMessage"}) {
		t.Errorf("scenario keys %v", got)
	}
	if strings.Contains(out+errOut, canaryPassword) {
		t.Fatal("the password was printed")
	}

	passing := writeFile(t, "ok.json", `{"scenarios":[{"name":"ok","expect":"continue","claims":{"case":"continue"}},{"name":"no","step":"postFederationSignup","expect":"block","claims":{"case":"block"},"userMessage":"closed"}]}`)
	code, out, errOut = run(plain.URL, "--scenarios", passing, "--basic-user", "entra-signup", "--basic-password-env", "PW")
	if code != 0 || !strings.Contains(out, "2 passed, 0 failed") || !strings.Contains(out, "PASS") || !strings.Contains(errOut, "warning: plain http") {
		t.Errorf("table: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run(plain.URL, "--scenarios", passing, "--step", "postFederationSignup"); code != 2 || !strings.Contains(errOut, "per scenario") {
		t.Errorf("--step with --scenarios: exit %d %s", code, errOut)
	}
	bad := writeFile(t, "bad.yaml", "scenarios:\n  - {name: a, expect: perhaps}\n")
	if code, _, errOut := run(plain.URL, "--scenarios", bad); code != 2 || !strings.Contains(errOut, "expect must be") {
		t.Errorf("bad file: exit %d %s", code, errOut)
	}
	if code, _, _ := run(plain.URL, "--scenarios", filepath.Join(t.TempDir(), "missing.yaml")); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
}

func TestScaffoldParsesAndCoversEveryAnswer(t *testing.T) {
	out := probe.Scaffold("Loyalty check (a3b1)", []probe.ScaffoldUse{
		{UserFlow: "B2X_1_PartnerSignUp", Step: probe.StepPostAttributeCollection},
		{UserFlow: "B2X_1_SupplierPortal", Step: probe.StepPostFederationSignup},
	}, "idpkeeper probe api https://api.example/x --scenarios FILE")
	scs, err := probe.ParseScenarios("scaffold.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	got := map[string]bool{}
	for _, sc := range scs {
		got[string(sc.Step)+"/"+string(sc.Expect)] = true
		if sc.Claims["email"] == nil {
			t.Errorf("%s has no email claim", sc.Name)
		}
	}
	want := []string{"postAttributeCollection/continue", "postAttributeCollection/validation-error", "postAttributeCollection/block",
		"postFederationSignup/continue", "postFederationSignup/block"}
	if len(scs) != len(want) {
		t.Errorf("%d scenarios: %v", len(scs), got)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("no scenario for %s", w)
		}
	}
	if !strings.Contains(string(out), "B2X_1_PartnerSignUp at postAttributeCollection") {
		t.Errorf("header does not name the flows:\n%s", out)
	}
	if scs, err := probe.ParseScenarios("s.yaml", probe.Scaffold("Unused", nil, "x")); err != nil || len(scs) != 2 {
		t.Errorf("unused connector: %v %d", err, len(scs))
	}
}

// The scaffold takes each flow's own attributes: custom ones as Entra sends
// them (extension_<appId without hyphens>_<Name>), built-in ones as Graph
// user properties, optional ones marked, values by type; a flow whose
// attributes could not be read falls back to the documented claims and the
// file says so. Every variant parses as it is written.
func TestScaffoldUsesTheFlowsAttributes(t *testing.T) {
	attrs := []probe.ScaffoldAttribute{
		{ID: "Email", InputType: "emailBox", DataType: "string"},
		{ID: "City", DisplayName: "City", InputType: "textBox", DataType: "string", Optional: true},
		{ID: "PostalCode", InputType: "textBox", DataType: "string"},
		{ID: "extension_3f2a9c1e-7b6d-4e0a-8c5f-1d2b3a4e5f60_Tier", DisplayName: "Tier", InputType: "radioSingleSelect", DataType: "string", Custom: true, Options: []string{"gold", "silver"}},
		{ID: "extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Seats", DisplayName: "Seats", InputType: "textBox", DataType: "int64", Custom: true},
		{ID: "extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Terms", DisplayName: "Terms", InputType: "checkboxMultiSelect", DataType: "boolean", Custom: true, Optional: true},
	}
	out := probe.Scaffold("Loyalty check (a3b1)", []probe.ScaffoldUse{
		{UserFlow: "B2X_1_PartnerSignUp", Step: probe.StepPostAttributeCollection, Attributes: attrs, AttributesKnown: true},
		{UserFlow: "B2X_1_PartnerSignUp", Step: probe.StepPostFederationSignup, Attributes: attrs, AttributesKnown: true},
		{UserFlow: "B2X_1_Unread", Step: probe.StepPostAttributeCollection},
	}, "idpkeeper probe api https://api.example/x --scenarios FILE")
	scs, err := probe.ParseScenarios("scaffold.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(scs) != 3+2+3 {
		t.Fatalf("%d scenarios, want one per outcome per step:\n%s", len(scs), out)
	}
	pac := scs[0].Claims
	want := map[string]any{
		"email": "someone@partner.example", "city": "Example City", "postalCode": "12345",
		"extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Tier":  "gold",
		"extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Seats": 42,
		"extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Terms": true,
	}
	for k, v := range want {
		// The same text and the same JSON kind: 42 a number, true a
		// boolean, "12345" a string.
		_, gotString := pac[k].(string)
		_, wantString := v.(string)
		if got, ok := pac[k]; !ok || fmt.Sprint(got) != fmt.Sprint(v) || gotString != wantString {
			t.Errorf("postAttributeCollection claim %s = %#v, want %#v", k, got, v)
		}
	}
	for _, k := range []string{"Email", "City", "extension_3f2a9c1e-7b6d-4e0a-8c5f-1d2b3a4e5f60_Tier", "jobTitle", "streetAddress"} {
		if _, ok := pac[k]; ok {
			t.Errorf("postAttributeCollection sends %s, which the flow does not collect under that name", k)
		}
	}
	text := string(out)
	for _, line := range []string{
		`      city: Example City  # optional: not sent when left empty`,
		`      extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Tier: gold  # custom attribute "Tier"; one of gold, silver`,
		`      extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Terms: true  # custom attribute "Terms"; optional: not sent when left empty`,
		`#   The attribute page that follows collects email, city, postalCode, extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Tier,`,
		`# Called by user flow B2X_1_Unread at postAttributeCollection.`,
		`#   Its attributes could not be read (see the scan's gaps): the claims are those Entra's`,
	} {
		if !strings.Contains(text, line) {
			t.Errorf("scaffold lacks %q:\n%s", line, out)
		}
	}
	// After federation: what the identity provider gives, not the page.
	if pfs := scs[3].Claims; scs[3].Step != probe.StepPostFederationSignup || pfs["email"] == nil || pfs["city"] != nil || pfs["extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_Tier"] != nil {
		t.Errorf("postFederationSignup claims = %v", scs[3].Claims)
	}
	// The unread flow: today's documented claims.
	if un := scs[5].Claims; un["jobTitle"] != "Supplier" || un["streetAddress"] == nil || len(un) != 10 {
		t.Errorf("fallback claims = %v", un)
	}
}

func TestClaimName(t *testing.T) {
	for _, tc := range []struct {
		a    probe.ScaffoldAttribute
		want string
	}{
		{probe.ScaffoldAttribute{ID: "City"}, "city"},
		{probe.ScaffoldAttribute{ID: "PostalCode"}, "postalCode"},
		{probe.ScaffoldAttribute{ID: "displayName"}, "displayName"},
		{probe.ScaffoldAttribute{ID: "MobilePhone"}, "mobilePhone"},
		{probe.ScaffoldAttribute{ID: "extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby", Custom: true}, "extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby"},
		{probe.ScaffoldAttribute{ID: "extension_d09380e2-b4c6-42b9-a203-fb816a04a7ad_Hobby", Custom: true}, "extension_d09380e2b4c642b9a203fb816a04a7ad_Hobby"},
	} {
		if got := probe.ClaimName(tc.a); got != tc.want {
			t.Errorf("ClaimName(%q) = %q, want %q", tc.a.ID, got, tc.want)
		}
	}
}

// Whatever the tenant names its connector, flows, attributes and choices,
// the scaffold parses as a scenario file and carries each collected
// attribute as the claim Entra sends: text from the tenant cannot break
// out of its YAML comment or value.
//
//	go test -run='^$' -fuzz=FuzzScaffold -fuzztime=60s ./shared/probe/
func FuzzScaffold(f *testing.F) {
	f.Add("Loyalty check", "B2X_1_PartnerSignUp", "City", "City", "preferred", false, true)
	f.Add("x\nscenarios: []", "flow\r\n- name: y", "extension_3f2a9c1e-7b6d-4e0a-8c5f-1d2b3a4e5f60_Tier", "T\u2028ier", "a\nb: c", true, false)
	f.Fuzz(func(t *testing.T, connector, flow, attrID, display, option string, custom, optional bool) {
		if attrID == "" {
			return // Graph items without an id are refused before the scaffold
		}
		for _, s := range []string{connector, flow, attrID, display, option} {
			if !utf8.ValidString(s) {
				return // the names come from JSON, decoded to valid UTF-8
			}
		}
		attr := probe.ScaffoldAttribute{ID: attrID, DisplayName: display, Custom: custom, Optional: optional,
			InputType: "radioSingleSelect", DataType: "string", Options: []string{option, "other"}}
		out := probe.Scaffold(connector, []probe.ScaffoldUse{{UserFlow: flow, Step: probe.StepPostAttributeCollection,
			Attributes: []probe.ScaffoldAttribute{attr}, AttributesKnown: true}}, "idpkeeper probe api URL --scenarios FILE")
		scs, err := probe.ParseScenarios("scaffold.yaml", out)
		if err != nil {
			if strings.Contains(err.Error(), "name is used twice") || strings.Contains(err.Error(), "at most") {
				return // names or sizes the fuzzer made collide or grow; not a quoting problem
			}
			t.Fatalf("the scaffold does not parse: %v\n%s", err, out)
		}
		if len(scs) != 3 {
			t.Fatalf("%d scenarios, want one per outcome (3):\n%s", len(scs), out)
		}
		claim := probe.ClaimName(attr)
		if _, ok := scs[0].Claims[claim]; !ok && !strings.Contains(string(out), "Left out: 1 attribute name(s)") {
			t.Fatalf("claim %q missing from %v:\n%s", claim, scs[0].Claims, out)
		}
	})
}
