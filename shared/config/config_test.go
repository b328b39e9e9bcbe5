package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestLoadDocumentedExample(t *testing.T) {
	cfg, err := Load(filepath.Join("testdata", "idpkeeper.yaml"))
	if err != nil {
		t.Fatalf("the documented example must load: %v", err)
	}
	if cfg.Version != 1 || cfg.Tenant.ID == "" || len(cfg.Owners) != 3 || len(cfg.Dependencies) != 5 {
		t.Fatalf("unexpected decode: %+v", cfg)
	}
	fb := cfg.Dependency("SOCIAL/facebook-oauth") // refs match case-insensitively
	if fb == nil {
		t.Fatal("Dependency lookup is not case-insensitive")
	}
	if got := cfg.LeadTime(fb); got != 45*24*time.Hour {
		t.Errorf("override lead time = %v, want 45d", got)
	}
	if got := cfg.LeadTime(cfg.Dependency("social/Google-OAUTH")); got != 30*24*time.Hour {
		t.Errorf("default lead time = %v, want 30d", got)
	}
	if got := cfg.Policy(fb); got != PolicyPropose {
		t.Errorf("policy = %q", got)
	}
	conn := cfg.Dependency("connector/9b2f4c1e-7d3a-4e8f-b6a1-0c5d2e9f8a71")
	ref, err := ParseSecretRef(conn.KeyVaultSecret)
	if err != nil {
		t.Fatal(err)
	}
	if !ref.Matches("https://CONTOSO-idp-kv.vault.azure.net/", "Signup-Connector-Password", "abc") {
		t.Errorf("secret ID should match its vault and name case-insensitively: %+v", ref)
	}
	if ref.Matches("https://other.vault.azure.net/", "signup-connector-password", "") {
		t.Errorf("secret ID must not match another vault")
	}
	if got := cfg.ResolvePath(cfg.Dependencies[2].Metadata.Trust.CertificateFile); got != filepath.Join("testdata", "fabrikam-federation-signer.pem") {
		t.Errorf("ResolvePath = %q", got)
	}
}

func TestJSONConfigSameRules(t *testing.T) {
	good := "{\n\t\"version\": 1,\n\t\"defaults\": {\"leadTime\": \"720h\"}\n}\n"
	cfg, err := Parse("idpkeeper.json", []byte(good))
	if err != nil {
		t.Fatalf("valid JSON with tabs rejected: %v", err)
	}
	if cfg.Defaults.LeadTime.Std() != 720*time.Hour {
		t.Errorf("leadTime = %v", cfg.Defaults.LeadTime)
	}
	bad := "{\n  \"version\": 1,\n  \"owners\": [{\"name\": \"bob\", \"emial\": \"bob@contoso.com\"}]\n}\n"
	_, err = Parse("idpkeeper.json", []byte(bad))
	wantProblems(t, err, `idpkeeper.json:3: owners[0].emial: unknown field "emial"`, `idpkeeper.json:3: owners[0].email: required`)
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default() must be valid: %v", err)
	}
	if c.LeadTime(nil) != 30*24*time.Hour || c.Defaults.MaxSecretAge.Std() != 180*24*time.Hour {
		t.Errorf("unexpected defaults %+v", c.Defaults)
	}
	c.Defaults.EscalationDays[0] = 99
	if DefaultEscalationDays()[0] != 60 {
		t.Error("Default() shares the escalation slice")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"30d", 30 * 24 * time.Hour, false},
		{"720h", 720 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"90m", 90 * time.Minute, false},
		{"0", 0, false},
		{"-2d", -48 * time.Hour, false},
		{"d", 0, true},
		{"3x", 0, true},
		{"30 days", 0, true},
		{"1d-2h", 0, true},
		{"", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseDuration(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.err)
		}
	}
	if s := Duration(45 * 24 * time.Hour).String(); s != "45d" {
		t.Errorf("String = %q", s)
	}
	if s := Duration(36 * time.Hour).String(); s != "36h0m0s" {
		t.Errorf("String = %q", s)
	}
}

// base is a minimal valid file; cases append to or replace parts of it.
const base = `version: 1
owners:
  - name: bob
    email: bob@contoso.com
  - name: carol
    email: carol@fabrikam.example
`

func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every problem, in order, exactly
	}{
		{"version missing", "owners: []\n",
			[]string{`idpkeeper.yaml: version: required: add "version: 1" at the top of the file`}},
		{"version wrong", "version: 2\n",
			[]string{`idpkeeper.yaml:1: version: unsupported version 2: this build understands version 1`}},
		{"version not a number", "version: one\n",
			[]string{`idpkeeper.yaml:1: version: expected a whole number, found a string`}},
		{"unknown top-level field", base + "fallbackAdmn: x@contoso.com\n",
			[]string{`idpkeeper.yaml:7: fallbackAdmn: unknown field "fallbackAdmn" (not a field of the top level; check the spelling against docs/config.md)`}},
		{"unknown dependency field", base + "dependencies:\n  - ref: social/Google-OAUTH\n    ownr: bob\n",
			[]string{`idpkeeper.yaml:9: dependencies[0].ownr: unknown field "ownr" (not a field of a dependency; check the spelling against docs/config.md)`}},
		{"unknown owner", base + "dependencies:\n  - ref: social/Google-OAUTH\n    owner: alice\n",
			[]string{`idpkeeper.yaml:9: dependencies[0].owner: unknown owner "alice" (known: bob, carol)`}},
		{"unknown owner with no owners", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    owner: alice\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].owner: unknown owner "alice" (known: no owners are defined)`}},
		{"bad tenant id", "version: 1\ntenant:\n  id: not a tenant\n",
			[]string{`idpkeeper.yaml:3: tenant.id: "not a tenant" is neither a tenant ID (GUID) nor a domain name`}},
		{"graph base url replaced by cloud", "version: 1\ntenant:\n  graphBaseUrl: https://graph.microsoft.us\n",
			[]string{`idpkeeper.yaml:3: tenant.graphBaseUrl: no longer supported: set tenant.cloud (china, public, usgov) instead`}},
		{"unknown cloud", "version: 1\ntenant:\n  cloud: mars\n",
			[]string{`idpkeeper.yaml:3: tenant.cloud: "mars" is not a cloud IdP Keeper knows (china, public, usgov)`}},
		{"vault of another cloud", "version: 1\ntenant:\n  cloud: usgov\nkeyVaults:\n  - https://kv.vault.azure.net/\n",
			[]string{`idpkeeper.yaml:5: keyVaults[0]: vault kv.vault.azure.net is not a Key Vault of the usgov cloud (its hosts end with .vault.usgovcloudapi.net)`}},
		{"vault not a URL", "version: 1\nkeyVaults:\n  - contoso-kv\n",
			[]string{`idpkeeper.yaml:3: keyVaults[0]: must be an absolute https:// URL (expected a vault URL such as https://contoso-kv.vault.azure.net/)`}},
		{"vault duplicate", "version: 1\nkeyVaults:\n  - https://kv.vault.azure.net/\n  - https://KV.vault.azure.net\n",
			[]string{`idpkeeper.yaml:4: keyVaults[1]: vault kv.vault.azure.net is already listed as keyVaults[0]`}},
		{"lead time bad", "version: 1\ndefaults:\n  leadTime: 3x\n",
			[]string{`idpkeeper.yaml:3: defaults.leadTime: invalid duration "3x": use a Go duration such as 720h or whole days such as 30d`}},
		{"lead time zero", "version: 1\ndefaults:\n  leadTime: 0d\n",
			[]string{`idpkeeper.yaml:3: defaults.leadTime: must be positive (for example 30d)`}},
		{"lead time huge", "version: 1\ndefaults:\n  leadTime: 400d\n",
			[]string{`idpkeeper.yaml:3: defaults.leadTime: 400d is longer than a year; is it a typo?`}},
		{"max secret age negative", "version: 1\ndefaults:\n  maxSecretAge: -1d\n",
			[]string{`idpkeeper.yaml:3: defaults.maxSecretAge: must not be negative (0 turns the check off)`}},
		{"escalation order", "version: 1\ndefaults:\n  escalationDays: [30, 60, 0]\n",
			[]string{`idpkeeper.yaml:3: defaults.escalationDays[1]: 60: list the days in strictly descending order (after 30)`, `idpkeeper.yaml:3: defaults.escalationDays[2]: 0: days before the due date must be positive`}},
		{"default policy", "version: 1\ndefaults:\n  policy: yolo\n",
			[]string{`idpkeeper.yaml:3: defaults.policy: unknown policy "yolo" (use auto, propose or notify)`}},
		{"owner without name and email", "version: 1\nowners:\n  - organisation: Contoso\n",
			[]string{`idpkeeper.yaml:3: owners[0].name: required`, `idpkeeper.yaml:3: owners[0].email: required`}},
		{"owner duplicate", base + "  - name: bob\n    email: bob2@contoso.com\n",
			[]string{`idpkeeper.yaml:7: owners[2].name: duplicate owner name "bob" (also owners[0])`}},
		{"owner bad email", "version: 1\nowners:\n  - name: bob\n    email: Bob <bob@contoso.com>\n",
			[]string{`idpkeeper.yaml:4: owners[0].email: "Bob <bob@contoso.com>" is not an email address (write just name@example.com)`}},
		{"owner email without domain", "version: 1\nowners:\n  - name: bob\n    email: bob@localhost\n",
			[]string{`idpkeeper.yaml:4: owners[0].email: "bob@localhost" is not an email address: the domain part is not a domain name`}},
		{"fallback admin", "version: 1\nfallbackAdmin: admins\n",
			[]string{`idpkeeper.yaml:2: fallbackAdmin: "admins" is not an email address (write just name@example.com)`}},
		{"ref missing", "version: 1\ndependencies:\n  - policy: notify\n",
			[]string{`idpkeeper.yaml:3: dependencies[0].ref: required: a reference such as social/Google-OAUTH, federation/contoso.com or connector/<id>`}},
		{"ref not kind/id", "version: 1\ndependencies:\n  - ref: Google-OAUTH\n",
			[]string{`idpkeeper.yaml:3: dependencies[0].ref: "Google-OAUTH" is not kind/id (for example social/Google-OAUTH)`}},
		{"ref kind unknown", "version: 1\ndependencies:\n  - ref: saml/contoso.com\n",
			[]string{`idpkeeper.yaml:3: dependencies[0].ref: unknown kind "saml" in "saml/contoso.com" (use social, federation, connector, userflow, emailotp)`}},
		{"ref with space", "version: 1\ndependencies:\n  - ref: social/Google OAUTH\n",
			[]string{`idpkeeper.yaml:3: dependencies[0].ref: "social/Google OAUTH": the ID must not contain spaces`}},
		{"ref duplicate", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n  - ref: social/google-oauth\n",
			[]string{`idpkeeper.yaml:4: dependencies[1].ref: "social/google-oauth" is already configured as dependencies[0]`}},
		{"secret on federation", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    keyVaultSecret: x\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].keyVaultSecret: only social and connector dependencies are backed by a Key Vault secret, not federation`}},
		{"secret name bad", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    keyVaultSecret: google_secret\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].keyVaultSecret: "google_secret" is not a Key Vault secret name (1-127 letters, digits and dashes) or secret ID`}},
		{"secret id bad", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    keyVaultSecret: https://kv.vault.azure.net/keys/google\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].keyVaultSecret: not a secret ID: expected https://VAULT/secrets/NAME[/VERSION]`}},
		{"dependency lead time", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    leadTime: -5d\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].leadTime: must be positive (for example 45d)`}},
		{"dependency lead time unparsable", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    leadTime: soon\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].leadTime: invalid duration "soon": use a Go duration such as 720h or whole days such as 30d`}},
		{"dependency policy", "version: 1\ndependencies:\n  - ref: social/Google-OAUTH\n    policy: always\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].policy: unknown policy "always" (use auto, propose or notify)`}},
		{"metadata on connector", "version: 1\ndependencies:\n  - ref: connector/abc\n    metadata:\n      url: https://x.example/md\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].metadata: only federation dependencies have partner metadata, not connector`}},
		{"metadata empty", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      allowSha1: true\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].metadata: give url (the partner's metadata document) or mdqBase and entityId`}},
		{"metadata http", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: http://contoso.com/md.xml\n",
			[]string{`idpkeeper.yaml:5: dependencies[0].metadata.url: must use https (set allowHttp: true only together with requireSignature and a trust anchor)`}},
		{"metadata http allowed without signature", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: http://contoso.com/md.xml\n      allowHttp: true\n",
			[]string{`idpkeeper.yaml:6: dependencies[0].metadata.allowHttp: plain http is only allowed with requireSignature: true and a trust anchor`}},
		{"metadata url with credentials", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: https://user:hunter2@contoso.com/md.xml\n",
			[]string{`idpkeeper.yaml:5: dependencies[0].metadata.url: must not carry credentials (user:password@)`}},
		{"mdq without entity", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      mdqBase: https://mdq.example.org/entities/\n",
			[]string{`idpkeeper.yaml:4: dependencies[0].metadata.entityId: required with mdqBase: the partner's SAML entityID`}},
		{"max bytes", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: https://contoso.com/md.xml\n      maxBytes: -1\n",
			[]string{`idpkeeper.yaml:6: dependencies[0].metadata.maxBytes: -1 is out of range (0 for the default of 10485760, at most 536870912)`}},
		{"sha256 bad", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: https://contoso.com/md.xml\n      trust:\n        sha256: [abcd]\n",
			[]string{`idpkeeper.yaml:7: dependencies[0].metadata.trust.sha256[0]: "abcd" is not a SHA-256 fingerprint (64 hex digits, colons allowed)`}},
		{"signature without trust", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: https://contoso.com/md.xml\n      requireSignature: true\n",
			[]string{`idpkeeper.yaml:6: dependencies[0].metadata.requireSignature: a signature cannot be verified without trust.certificateFile or trust.sha256`}},
		{"auto without signature", "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    policy: auto\n    metadata:\n      url: https://contoso.com/md.xml\n",
			[]string{`idpkeeper.yaml:5: dependencies[0].metadata.requireSignature: policy auto applies partner certificates unattended, so it needs requireSignature: true and a trust anchor`}},
		{"mail from", "version: 1\nnotifications:\n  mail:\n    from: not-a-mailbox\n",
			[]string{`idpkeeper.yaml:4: notifications.mail.from: "not-a-mailbox" is not an email address (write just name@example.com) (or give the mailbox's user object ID)`}},
		{"mail from missing", "version: 1\nnotifications:\n  mail: {}\n",
			[]string{`idpkeeper.yaml:3: notifications.mail.from: required: the mailbox (UPN or user object ID) notices are sent from`}},
		{"webhook http", "version: 1\nnotifications:\n  webhook:\n    url: http://hooks.example/T0KEN\n",
			[]string{`idpkeeper.yaml:4: notifications.webhook.url: must use https`}},
		{"outbox dir", "version: 1\nnotifications:\n  outbox:\n    dir: \"\"\n",
			[]string{`idpkeeper.yaml:4: notifications.outbox.dir: required: the directory notices are written to`}},
		{"wrong shape", "version: 1\nowners: bob\n",
			[]string{`idpkeeper.yaml:2: owners: expected a list, found a string`}},
		{"syntax", "version: 1\nowners: [\n",
			[]string{`idpkeeper.yaml:2: not valid YAML: did not find expected node content`}},
		{"empty", "",
			[]string{`idpkeeper.yaml: file is empty: at least "version: 1" is required`}},
		{"not a mapping", "- a\n- b\n",
			[]string{`idpkeeper.yaml:1: the top level must be a mapping (key: value pairs)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse("idpkeeper.yaml", []byte(tt.yaml))
			if cfg != nil {
				t.Errorf("Parse returned a config with an error")
			}
			wantProblems(t, err, tt.want...)
		})
	}
}

func TestValidCasesPass(t *testing.T) {
	// Each would trip a rule if the rule were too strict.
	tests := map[string]string{
		"tenant domain":            "version: 1\ntenant:\n  id: contoso.onmicrosoft.com\n",
		"mail from object id":      "version: 1\nnotifications:\n  mail:\n    from: 0f8fad5b-d9cb-469f-a165-70867728950e\n",
		"federation by guid":       "version: 1\ndependencies:\n  - ref: federation/0f8fad5b-d9cb-469f-a165-70867728950e\n",
		"max secret age off":       "version: 1\ndefaults:\n  maxSecretAge: 0d\n",
		"http with signature":      "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: http://contoso.com/md.xml\n      allowHttp: true\n      requireSignature: true\n      trust:\n        sha256: [\"" + strings.Repeat("ab", 32) + "\"]\n",
		"auto with signature":      "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    policy: auto\n    metadata:\n      mdqBase: https://mdq.example.org/entities/\n      entityId: https://idp.contoso.com/\n      requireSignature: true\n      trust:\n        sha256: [\"" + strings.Repeat("AB:", 31) + "AB\"]\n",
		"secret id with version":   "version: 1\ndependencies:\n  - ref: connector/abc\n    keyVaultSecret: https://kv.vault.azure.net/secrets/pw/0123456789abcdef\n",
		"emailotp dependency":      "version: 1\ndependencies:\n  - ref: emailotp/email\n",
		"single escalation":        "version: 1\ndefaults:\n  escalationDays: [7]\n",
		"lead time in go duration": "version: 1\ndefaults:\n  leadTime: 1d12h\n",
	}
	for name, y := range tests {
		if _, err := Parse("idpkeeper.yaml", []byte(y)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestLoadChecksFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "idpkeeper.yaml")
	y := "version: 1\ndependencies:\n  - ref: federation/contoso.com\n    metadata:\n      url: https://contoso.com/md.xml\n      requireSignature: true\n      trust:\n        certificateFile: missing.pem\n"
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.Contains(err.Error(), p+":8: dependencies[0].metadata.trust.certificateFile: cannot read \"missing.pem\"") {
		t.Fatalf("missing trust file not reported: %v", err)
	}
	// Parse does not look at the disk.
	if _, err := Parse(p, []byte(y)); err != nil {
		t.Fatalf("Parse touched the file system: %v", err)
	}
	if _, err := Load(filepath.Join(dir, "nope.yaml")); err == nil {
		t.Fatal("missing file accepted")
	}
}

func TestErrorsNeverEchoWebhookURL(t *testing.T) {
	const token = "s3cr3t-T0KEN"
	y := "version: 1\nnotifications:\n  webhook:\n    url: ftp://hooks.example/" + token + "\n"
	_, err := Parse("idpkeeper.yaml", []byte(y))
	if err == nil {
		t.Fatal("ftp webhook accepted")
	}
	if strings.Contains(err.Error(), token) {
		t.Fatalf("error echoes the webhook URL: %v", err)
	}
	// A value of the wrong type is not echoed either.
	y = "version: 1\nnotifications:\n  webhook: [" + token + "]\n"
	_, err = Parse("idpkeeper.yaml", []byte(y))
	if err == nil || strings.Contains(err.Error(), token) {
		t.Fatalf("type error echoes the value: %v", err)
	}
}

func TestValidateAfterEdit(t *testing.T) {
	c := Default()
	c.Owners = append(c.Owners, Owner{Name: "bob", Email: "bob@contoso.com"})
	c.Dependencies = append(c.Dependencies, Dependency{Ref: "social/Google-OAUTH", Owner: "alice"})
	err := c.Validate()
	wantProblems(t, err, `config: dependencies[0].owner: unknown owner "alice" (known: bob)`)
}

func wantProblems(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %q", want)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T is not *config.Error: %v", err, err)
	}
	got := strings.Split(err.Error(), "\n")
	if len(got) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(got), len(want), err)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("problem %d:\n got  %s\n want %s", i, got[i], want[i])
		}
	}
}

// TestDocsCoverEveryField keeps docs/config.md in step with the types: every
// field name a file may use must be documented.
func TestDocsCoverEveryField(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	seen := map[reflect.Type]bool{}
	var walk func(rt reflect.Type)
	walk = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer || rt.Kind() == reflect.Slice {
			rt = rt.Elem()
		}
		if rt.Kind() != reflect.Struct || seen[rt] {
			return
		}
		seen[rt] = true
		for i := 0; i < rt.NumField(); i++ {
			f := rt.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			if name == "" || name == "-" {
				continue
			}
			if !strings.Contains(doc, "`"+name+"`") && !strings.Contains(doc, "."+name+"`") {
				t.Errorf("docs/config.md does not document field %q of %s", name, rt.Name())
			}
			walk(f.Type)
		}
	}
	walk(reflect.TypeOf(Config{}))
}

func TestPasswordPolicy(t *testing.T) {
	if _, err := Parse("p.yaml", []byte("version: 1\ndefaults:\n  passwordLength: 8\n")); err == nil || !strings.Contains(err.Error(), "defaults.passwordLength: 8 is outside 16–256") {
		t.Errorf("short password length: %v", err)
	}
	cfg, err := Parse("p.yaml", []byte("version: 1\ndefaults:\n  passwordLength: 40\n  passwordSymbols: true\n"))
	if err != nil || cfg.Defaults.PasswordLength != 40 || !cfg.Defaults.PasswordSymbols {
		t.Errorf("%+v %v", cfg, err)
	}
}

func TestWatchSettings(t *testing.T) {
	cfg, err := Parse("w.yaml", []byte("version: 1\nwatch:\n  failures: 5\n  downAfter: 30m\n  observedFrom: IdP Keeper in Azure West Europe\ndependencies:\n  - ref: federation/fabrikam.example\n    watch: {allowNetworks: [10.20.0.0/16], disabled: false}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := cfg.WatchSettings()
	if w.Failures != 5 || w.DownAfter.Std() != 30*time.Minute || w.Timeout != DefaultWatchTimeout || w.Concurrency != DefaultWatchConcurrency ||
		w.LatencyBudget != DefaultWatchLatencyBudget || w.DegradedPercent != DefaultWatchDegradedPercent {
		t.Errorf("settings %+v", w)
	}
	if len(cfg.Dependencies[0].Watch.Policy().Allow) != 1 {
		t.Error("watch.allowNetworks not read")
	}
	for _, c := range []struct{ file, want string }{
		{"version: 1\nwatch: {failures: 1000}\n", "watch.failures: 1000 is outside 1–100"},
		{"version: 1\nwatch: {timeout: 1h}\n", "watch.timeout: 1h0m0s is outside 0–2m"},
		{"version: 1\nwatch: {concurrency: -1}\n", "watch.concurrency: -1 is outside"},
		{"version: 1\nwatch: {degradedPercent: 101}\n", "watch.degradedPercent: 101 is outside 1–100"},
		{"version: 1\nwatch: {observedFrom: \"<script>\"}\n", "watch.observedFrom: use at most 80"},
		{"version: 1\nwatch: {retries: 2}\n", `unknown field "retries" (not a field of watch`},
		{"version: 1\ndependencies: [{ref: emailotp/email, watch: {disabled: true}}]\n", "only federation, social and connector dependencies have endpoints"},
		{"version: 1\ndependencies: [{ref: connector/x, watch: {allowNetworks: [169.254.0.0/16]}}]\n", "dependencies[0].watch.allowNetworks[0]"},
	} {
		if _, err := Parse("w.yaml", []byte(c.file)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.file, err, c.want)
		}
	}
}
