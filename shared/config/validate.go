package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
)

// Limits that catch typos such as "300d" meant as "30d" without getting in
// the way of real settings.
const (
	maxLeadTime         = 365 * 24 * time.Hour
	maxEscalationDays   = 365
	maxMetadataMaxBytes = 512 << 20
)

var (
	guidRE       = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	domainRE     = regexp.MustCompile(`^(?i)[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$`)
	secretNameRE = regexp.MustCompile(`^[0-9A-Za-z-]{1,127}$`)
	sha256HexRE  = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// refKinds are the dependency kinds a Ref may name.
var refKinds = []string{inventory.KindSocial, inventory.KindFederation, inventory.KindConnector, inventory.KindUserFlow, inventory.KindEmailOTP}

func (c *Config) problem(field, format string, args ...any) Problem {
	return Problem{File: c.fileName(), Line: c.line(field), Field: field, Msg: fmt.Sprintf(format, args...)}
}

// problems runs every check and returns all failures.
func (c *Config) problems() []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) { ps = append(ps, c.problem(field, format, args...)) }

	// version: a file without it would silently get whatever this build
	// assumes, so it must be written out.
	if c.present != nil && !c.present["version"] {
		add("version", "required: add \"version: %d\" at the top of the file", CurrentVersion)
	} else if c.Version != CurrentVersion {
		add("version", "unsupported version %d: this build understands version %d", c.Version, CurrentVersion)
	}

	if id := c.Tenant.ID; id != "" && !guidRE.MatchString(id) && !domainRE.MatchString(id) {
		add("tenant.id", "%q is neither a tenant ID (GUID) nor a domain name", id)
	}
	if c.Tenant.GraphBaseURL != "" {
		add("tenant.graphBaseUrl", "no longer supported: set tenant.cloud (%s) instead", strings.Join(CloudNames(), ", "))
	}
	suffix, cloudOK := CloudKeyVaultSuffix[strings.ToLower(c.Tenant.Cloud)]
	if c.Tenant.Cloud == "" {
		suffix, cloudOK = CloudKeyVaultSuffix["public"], true
	} else if !cloudOK {
		add("tenant.cloud", "%q is not a cloud IdP Keeper knows (%s)", c.Tenant.Cloud, strings.Join(CloudNames(), ", "))
	}

	seenVault := map[string]int{}
	for i, v := range c.KeyVaults {
		f := fmt.Sprintf("keyVaults[%d]", i)
		if msg := checkURL(v, false); msg != "" {
			add(f, "%s (expected a vault URL such as https://contoso-kv.vault.azure.net/)", msg)
			continue
		}
		h := vaultHost(v)
		if cloudOK && !strings.HasSuffix(h, suffix) {
			add(f, "vault %s is not a Key Vault of the %s cloud (its hosts end with %s)", h, cmpOr(c.Tenant.Cloud, "public"), suffix)
		}
		if j, dup := seenVault[h]; dup {
			add(f, "vault %s is already listed as keyVaults[%d]", h, j)
		}
		seenVault[h] = i
	}

	// defaults
	switch lt := c.Defaults.LeadTime.Std(); {
	case lt <= 0:
		add("defaults.leadTime", "must be positive (for example 30d)")
	case lt > maxLeadTime:
		add("defaults.leadTime", "%s is longer than a year; is it a typo?", c.Defaults.LeadTime)
	}
	if c.Defaults.MaxSecretAge < 0 {
		add("defaults.maxSecretAge", "must not be negative (0 turns the check off)")
	}
	ps = append(ps, c.escalationProblems()...)
	if n := c.Defaults.PasswordLength; n != 0 && (n < 16 || n > 256) {
		ps = append(ps, c.problem("defaults.passwordLength", "%d is outside 16–256 (0 for the default 32)", n))
	}
	if p := c.Defaults.Policy; p != "" && !validPolicy(p) {
		add("defaults.policy", "unknown policy %q (use auto, propose or notify)", p)
	}

	// owners
	ownerNames := map[string]int{}
	for i, o := range c.Owners {
		f := fmt.Sprintf("owners[%d]", i)
		if strings.TrimSpace(o.Name) == "" {
			add(f+".name", "required")
		} else if j, dup := ownerNames[o.Name]; dup {
			add(f+".name", "duplicate owner name %q (also owners[%d])", o.Name, j)
		} else {
			ownerNames[o.Name] = i
		}
		if o.Email == "" {
			add(f+".email", "required")
		} else if msg := checkEmail(o.Email); msg != "" {
			add(f+".email", "%s", msg)
		}
	}
	if c.FallbackAdmin != "" {
		if msg := checkEmail(c.FallbackAdmin); msg != "" {
			add("fallbackAdmin", "%s", msg)
		}
	}

	// dependencies
	seenRef := map[string]int{}
	for i, d := range c.Dependencies {
		ps = append(ps, c.dependencyProblems(i, d, ownerNames, seenRef)...)
	}

	// notifications
	if m := c.Notifications.Mail; m != nil {
		switch {
		case m.From == "":
			add("notifications.mail.from", "required: the mailbox (UPN or user object ID) notices are sent from")
		case guidRE.MatchString(m.From):
		default:
			if msg := checkEmail(m.From); msg != "" {
				add("notifications.mail.from", "%s (or give the mailbox's user object ID)", msg)
			}
		}
	}
	if w := c.Notifications.Webhook; w != nil {
		ps = append(ps, c.allowProblems("notifications.webhook.allowNetworks", w.AllowNetworks)...)
		if w.URL == "" {
			add("notifications.webhook.url", "required")
		} else if msg := checkURL(w.URL, false); msg != "" {
			add("notifications.webhook.url", "%s", msg)
		} else if msg := checkAddress(w.URL, w.Policy()); msg != "" {
			add("notifications.webhook.url", "%s", msg)
		}
	}
	if o := c.Notifications.Outbox; o != nil && strings.TrimSpace(o.Dir) == "" {
		add("notifications.outbox.dir", "required: the directory notices are written to")
	}
	ps = append(ps, c.watchProblems()...)
	return ps
}

// Bounds of the watch settings: beyond them a value is a typo (a check
// timeout of an hour) or would starve the host (ten thousand sockets).
const (
	maxWatchFailures    = 100
	maxWatchDownAfter   = 24 * time.Hour
	maxWatchTimeout     = 2 * time.Minute
	maxWatchConcurrency = 512
	maxWatchBudget      = 2 * time.Minute
	maxObservedFromLen  = 80
)

var observedFromRE = regexp.MustCompile(`^[\pL\pN .,()/'-]*$`)

func (c *Config) watchProblems() []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) { ps = append(ps, c.problem("watch."+field, format, args...)) }
	w := c.Watch
	if w.Failures < 0 || w.Failures > maxWatchFailures {
		add("failures", "%d is outside 1–%d (0 for the default %d)", w.Failures, maxWatchFailures, DefaultWatchFailures)
	}
	if d := w.DownAfter.Std(); d < 0 || d > maxWatchDownAfter {
		add("downAfter", "%s is outside 0–24h (0 for the default %s)", w.DownAfter, DefaultWatchDownAfter)
	}
	if d := w.Timeout.Std(); d < 0 || d > maxWatchTimeout {
		add("timeout", "%s is outside 0–2m (0 for the default %s)", w.Timeout, DefaultWatchTimeout)
	}
	if w.Concurrency < 0 || w.Concurrency > maxWatchConcurrency {
		add("concurrency", "%d is outside 1–%d (0 for the default %d)", w.Concurrency, maxWatchConcurrency, DefaultWatchConcurrency)
	}
	if d := w.LatencyBudget.Std(); d < 0 || d > maxWatchBudget {
		add("latencyBudget", "%s is outside 0–2m (0 for the default %s)", w.LatencyBudget, DefaultWatchLatencyBudget)
	}
	if w.DegradedPercent < 0 || w.DegradedPercent > 100 {
		add("degradedPercent", "%d is outside 1–100 (0 for the default %d)", w.DegradedPercent, DefaultWatchDegradedPercent)
	}
	// Quoted in notices to partners: plain words only.
	if len(w.ObservedFrom) > maxObservedFromLen || !observedFromRE.MatchString(w.ObservedFrom) {
		add("observedFrom", "use at most %d letters, digits, spaces and . , ( ) / ' -", maxObservedFromLen)
	}
	return ps
}

func (c *Config) escalationProblems() []Problem {
	var ps []Problem
	days := c.Defaults.EscalationDays
	for i, d := range days {
		f := fmt.Sprintf("defaults.escalationDays[%d]", i)
		if d <= 0 {
			ps = append(ps, c.problem(f, "%d: days before the due date must be positive", d))
			continue
		}
		if d > maxEscalationDays {
			ps = append(ps, c.problem(f, "%d: more than %d days before the due date; is it a typo?", d, maxEscalationDays))
			continue
		}
		if i > 0 && d >= days[i-1] {
			ps = append(ps, c.problem(f, "%d: list the days in strictly descending order (after %d)", d, days[i-1]))
		}
	}
	return ps
}

func (c *Config) dependencyProblems(i int, d Dependency, owners map[string]int, seen map[string]int) []Problem {
	var ps []Problem
	f := fmt.Sprintf("dependencies[%d]", i)
	add := func(field, format string, args ...any) { ps = append(ps, c.problem(f+field, format, args...)) }

	kind, id, ok := inventory.ParseRef(d.Ref)
	switch {
	case d.Ref == "":
		add(".ref", "required: a reference such as social/Google-OAUTH, federation/contoso.com or connector/<id>")
	case !ok:
		add(".ref", "%q is not kind/id (for example social/Google-OAUTH)", d.Ref)
	case !contains(refKinds, kind):
		add(".ref", "unknown kind %q in %q (use %s)", kind, d.Ref, strings.Join(refKinds, ", "))
	case strings.TrimSpace(id) != id || strings.ContainsAny(id, " \t"):
		add(".ref", "%q: the ID must not contain spaces", d.Ref)
	default:
		key := strings.ToLower(d.Ref)
		if j, dup := seen[key]; dup {
			add(".ref", "%q is already configured as dependencies[%d]", d.Ref, j)
		} else {
			seen[key] = i
		}
	}

	if d.Owner != "" {
		if _, known := owners[d.Owner]; !known {
			add(".owner", "unknown owner %q (known: %s)", d.Owner, knownNames(owners))
		}
	}

	if d.KeyVaultSecret != "" {
		if ok && kind != inventory.KindSocial && kind != inventory.KindConnector {
			add(".keyVaultSecret", "only social and connector dependencies are backed by a Key Vault secret, not %s", kind)
		} else if _, err := ParseSecretRef(d.KeyVaultSecret); err != nil {
			add(".keyVaultSecret", "%v", err)
		}
	}

	if d.LeadTime != nil {
		switch lt := d.LeadTime.Std(); {
		case lt <= 0:
			add(".leadTime", "must be positive (for example 45d)")
		case lt > maxLeadTime:
			add(".leadTime", "%s is longer than a year; is it a typo?", *d.LeadTime)
		}
	}
	if d.Policy != "" && !validPolicy(d.Policy) {
		add(".policy", "unknown policy %q (use auto, propose or notify)", d.Policy)
	}

	if w := d.Watch; w != nil {
		if ok && kind != inventory.KindFederation && kind != inventory.KindSocial && kind != inventory.KindConnector {
			add(".watch", "only federation, social and connector dependencies have endpoints to watch, not %s", kind)
		}
		ps = append(ps, c.allowProblems(f+".watch.allowNetworks", w.AllowNetworks)...)
	}
	if m := d.Metadata; m != nil {
		if ok && kind != inventory.KindFederation {
			add(".metadata", "only federation dependencies have partner metadata, not %s", kind)
		}
		ps = append(ps, c.metadataProblems(f+".metadata", m, d.Policy)...)
	}
	return ps
}

func (c *Config) metadataProblems(f string, m *Metadata, policy string) []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) { ps = append(ps, c.problem(f+field, format, args...)) }
	if m.URL == "" && m.MDQBase == "" {
		add("", "give url (the partner's metadata document) or mdqBase and entityId")
	}
	ps = append(ps, c.allowProblems(f+".allowNetworks", m.AllowNetworks)...)
	if m.URL != "" {
		if msg := checkURL(m.URL, m.AllowHTTP); msg != "" {
			if strings.HasPrefix(strings.ToLower(m.URL), "http://") {
				msg += " (set allowHttp: true only together with requireSignature and a trust anchor)"
			}
			add(".url", "%s", msg)
		} else if msg := checkAddress(m.URL, m.Policy()); msg != "" {
			add(".url", "%s", msg)
		}
	}
	if m.MDQBase != "" {
		if msg := checkURL(m.MDQBase, m.AllowHTTP); msg != "" {
			add(".mdqBase", "%s", msg)
		} else if msg := checkAddress(m.MDQBase, m.Policy()); msg != "" {
			add(".mdqBase", "%s", msg)
		}
		if m.EntityID == "" {
			add(".entityId", "required with mdqBase: the partner's SAML entityID")
		}
	}
	if m.MaxBytes < 0 || m.MaxBytes > maxMetadataMaxBytes {
		add(".maxBytes", "%d is out of range (0 for the default of %d, at most %d)", m.MaxBytes, DefaultMetadataMaxBytes, maxMetadataMaxBytes)
	}
	for i, fp := range m.Trust.SHA256 {
		if !sha256HexRE.MatchString(NormalizeFingerprint(fp)) {
			add(fmt.Sprintf(".trust.sha256[%d]", i), "%q is not a SHA-256 fingerprint (64 hex digits, colons allowed)", fp)
		}
	}
	hasTrust := m.Trust.CertificateFile != "" || len(m.Trust.SHA256) > 0
	if m.RequireSignature && !hasTrust {
		add(".requireSignature", "a signature cannot be verified without trust.certificateFile or trust.sha256")
	}
	// Plain HTTP is only safe when the document's signature is checked.
	if m.AllowHTTP && !(m.RequireSignature && hasTrust) {
		add(".allowHttp", "plain http is only allowed with requireSignature: true and a trust anchor")
	}
	if policy == PolicyAuto && !(m.RequireSignature && hasTrust) {
		add(".requireSignature", "policy auto applies partner certificates unattended, so it needs requireSignature: true and a trust anchor")
	}
	return ps
}

// NormalizeFingerprint removes colons and spaces and upper-cases a hex
// fingerprint, the form inventory.Certificate uses.
func NormalizeFingerprint(s string) string {
	s = strings.NewReplacer(":", "", " ", "").Replace(strings.TrimSpace(s))
	return strings.ToUpper(s)
}

// ParseSecretRef parses a Dependency.KeyVaultSecret: a bare secret name or a
// secret ID https://VAULT/secrets/NAME[/VERSION].
func ParseSecretRef(s string) (SecretRef, error) {
	if !strings.Contains(s, "/") {
		if !secretNameRE.MatchString(s) {
			return SecretRef{}, fmt.Errorf("%q is not a Key Vault secret name (1-127 letters, digits and dashes) or secret ID", s)
		}
		return SecretRef{Name: s}, nil
	}
	if msg := checkURL(s, false); msg != "" {
		return SecretRef{}, fmt.Errorf("not a secret ID: %s", msg)
	}
	u, _ := url.Parse(s)
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "secrets" || !secretNameRE.MatchString(parts[1]) {
		return SecretRef{}, fmt.Errorf("not a secret ID: expected https://VAULT/secrets/NAME[/VERSION]")
	}
	r := SecretRef{Vault: strings.ToLower(u.Hostname()), Name: parts[1]}
	if len(parts) == 3 {
		r.Version = parts[2]
	}
	return r, nil
}

// vaultHost returns the lower-case host of a vault URL, "" if unparsable.
// CloudKeyVaultSuffix is the Key Vault host suffix of each tenant.cloud
// value; shared/tenant's Cloud list is the same (a test there checks).
var CloudKeyVaultSuffix = map[string]string{
	"public": ".vault.azure.net",
	"usgov":  ".vault.usgovcloudapi.net",
	"china":  ".vault.azure.cn",
}

// CloudNames lists the tenant.cloud values, sorted.
func CloudNames() []string {
	out := make([]string, 0, len(CloudKeyVaultSuffix))
	for k := range CloudKeyVaultSuffix {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func vaultHost(v string) string {
	u, err := url.Parse(strings.TrimSpace(v))
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Hostname())
}

// checkURL returns what is wrong with an absolute https (or, with
// allowHTTP, http) URL, or "". It never echoes the URL: webhook URLs and
// some metadata URLs carry tokens.
func checkURL(s string, allowHTTP bool) string {
	u, err := url.Parse(s)
	if err != nil {
		return "not a valid URL"
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return "must use https"
	case u.Scheme == "":
		return "must be an absolute https:// URL"
	default:
		return fmt.Sprintf("scheme %q is not allowed: must use https", u.Scheme)
	}
	if u.Host == "" || u.Hostname() == "" {
		return "has no host"
	}
	if u.User != nil {
		return "must not carry credentials (user:password@)"
	}
	return ""
}

// checkAddress refuses a URL whose host is a literal non-public address
// (https://169.254.169.254/, https://10.0.0.5/) that the policy does not
// allow. A host name is checked when it is dialled, after resolution.
func checkAddress(raw string, p netguard.Policy) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	if err := p.CheckURL(u); err != nil {
		return err.Error()
	}
	return ""
}

// allowProblems checks an allowNetworks list, one problem per bad entry.
func (c *Config) allowProblems(field string, entries []string) []Problem {
	var ps []Problem
	for i, e := range entries {
		if _, err := netguard.ParseAllow([]string{e}); err != nil {
			ps = append(ps, c.problem(fmt.Sprintf("%s[%d]", field, i), "%v", err))
		}
	}
	return ps
}

// checkEmail returns what is wrong with a bare email address, or "".
func checkEmail(s string) string {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Sprintf("%q is not an email address (write just name@example.com)", s)
	}
	at := strings.LastIndexByte(s, '@')
	if at < 1 || !domainRE.MatchString(s[at+1:]) {
		return fmt.Sprintf("%q is not an email address: the domain part is not a domain name", s)
	}
	return ""
}

func validPolicy(p string) bool { return p == PolicyAuto || p == PolicyPropose || p == PolicyNotify }

func knownNames(m map[string]int) string {
	if len(m) == 0 {
		return "no owners are defined"
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
