// Package config is IdP Keeper's configuration file: who owns each external
// sign-in dependency, where a SAML partner publishes its metadata, how early
// to warn, and where notices go.
//
// The file is YAML or JSON (chosen by extension) and versioned (version: 1).
// Loading fails fast: unknown fields, bad values and dangling owner names are
// all reported at once, each as "FILE[:LINE]: FIELD: what is wrong", so an
// operator fixes the file in one pass instead of one error per run. The
// documented reference is docs/config.md.
package config

import (
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
)

// CurrentVersion is the only config file version this build understands.
const CurrentVersion = 1

// Policies say how far IdP Keeper may act on its own for a dependency.
const (
	// PolicyAuto lets IdP Keeper apply a verified change (for example a
	// partner's new signing certificate from signed metadata) by itself.
	PolicyAuto = "auto"
	// PolicyPropose prepares the change and asks the owner to approve it.
	PolicyPropose = "propose"
	// PolicyNotify only tells the owner what to do.
	PolicyNotify = "notify"
)

// Defaults used when the file does not say.
const (
	DefaultLeadTime     = Duration(30 * 24 * time.Hour)
	DefaultMaxSecretAge = Duration(180 * 24 * time.Hour)
	DefaultPolicy       = PolicyPropose
	// DefaultMetadataMaxBytes caps a metadata download; aggregates such as
	// eduGAIN are far larger, so per-entity (MDQ) lookups are preferred there.
	DefaultMetadataMaxBytes int64 = 10 << 20
)

// DefaultEscalationDays returns the days before a due date at which repeated
// notices are sent; a fresh slice each call so callers can't alter the default.
func DefaultEscalationDays() []int { return []int{60, 30, 14, 7, 3, 1} }

// Config is the whole configuration file.
type Config struct {
	// Version of the file format; must be CurrentVersion.
	Version int    `yaml:"version" json:"version"`
	Tenant  Tenant `yaml:"tenant" json:"tenant"`
	// KeyVaults are the vault URLs scanned for secrets that back dependencies.
	KeyVaults []string `yaml:"keyVaults" json:"keyVaults,omitempty"`
	Defaults  Defaults `yaml:"defaults" json:"defaults"`
	Owners    []Owner  `yaml:"owners" json:"owners,omitempty"`
	// FallbackAdmin is the address told about dependencies nobody owns.
	FallbackAdmin string        `yaml:"fallbackAdmin" json:"fallbackAdmin,omitempty"`
	Dependencies  []Dependency  `yaml:"dependencies" json:"dependencies,omitempty"`
	Notifications Notifications `yaml:"notifications" json:"notifications"`
	// Watch tunes the endpoint watch (WatchTimer, `idpkeeper watch`).
	Watch Watch `yaml:"watch" json:"watch"`

	// Source is the file the config was read from ("" for Default()); used
	// to name the file in validation errors and to resolve relative paths.
	Source string `yaml:"-" json:"-"`
	// lines maps a field path ("dependencies[2].owner") to its line in the
	// file, so validation errors can point at it.
	lines map[string]int
	// present records which field paths the file spelled out (defaults are
	// applied to the rest).
	present map[string]bool
	// index finds dependencies and owners without a scan (lookups).
	index *lookupIndex
}

// Tenant identifies the Entra tenant.
type Tenant struct {
	// ID is the tenant ID (GUID) or a verified domain such as contoso.onmicrosoft.com.
	ID string `yaml:"id" json:"id,omitempty"`
	// Cloud selects the Microsoft cloud: "public" (default), "usgov" or
	// "china". It sets Graph's root and token scope, the credential's
	// authority host, and the Key Vault host suffix vaults must have.
	Cloud string `yaml:"cloud" json:"cloud,omitempty"`
	// GraphBaseURL is no longer accepted: Cloud replaced it. It is kept
	// only so that a file still naming it gets a clear error.
	GraphBaseURL string `yaml:"graphBaseUrl" json:"graphBaseUrl,omitempty"`
}

// Defaults apply to every dependency that does not override them.
type Defaults struct {
	// LeadTime is how long before a due date the owner must be told.
	LeadTime Duration `yaml:"leadTime" json:"leadTime"`
	// MaxSecretAge is the age after which a secret should be rotated even if
	// it has no expiry; 0 disables the check.
	MaxSecretAge Duration `yaml:"maxSecretAge" json:"maxSecretAge"`
	// EscalationDays are the days before the due date at which a repeated
	// notice is sent, in descending order.
	EscalationDays []int `yaml:"escalationDays" json:"escalationDays"`
	// Policy is the default Dependency.Policy.
	Policy string `yaml:"policy" json:"policy,omitempty"`
	// PasswordLength and PasswordSymbols shape the basic-auth passwords a
	// staged rotation generates (0: 32 characters).
	PasswordLength  int  `yaml:"passwordLength" json:"passwordLength,omitempty"`
	PasswordSymbols bool `yaml:"passwordSymbols" json:"passwordSymbols,omitempty"`
}

// Owner is a person or team told about a dependency.
type Owner struct {
	// Name is how dependencies refer to the owner; unique in the file.
	Name         string `yaml:"name" json:"name"`
	Email        string `yaml:"email" json:"email"`
	Organisation string `yaml:"organisation" json:"organisation,omitempty"`
	// Internal is true for people of the tenant's own organisation; external
	// owners (a partner's IT) get notices without internal links.
	Internal bool `yaml:"internal" json:"internal"`
}

// Dependency is what the config knows about one dependency beyond what the
// tenant says.
type Dependency struct {
	// Ref is "kind/id": social/<IdP ID>, federation/<ID or one of its
	// domains>, connector/<ID>, userflow/<ID> or emailotp/email.
	Ref   string `yaml:"ref" json:"ref"`
	Owner string `yaml:"owner" json:"owner,omitempty"`
	// KeyVaultSecret names the Key Vault secret that backs a social IdP
	// client secret or a basic-auth connector password: a secret name, or a
	// full secret ID (https://VAULT/secrets/NAME[/VERSION]). The alternative
	// is the idpkeeper-dependency tag on the secret.
	KeyVaultSecret string    `yaml:"keyVaultSecret" json:"keyVaultSecret,omitempty"`
	LeadTime       *Duration `yaml:"leadTime" json:"leadTime,omitempty"`
	Metadata       *Metadata `yaml:"metadata" json:"metadata,omitempty"`
	Policy         string    `yaml:"policy" json:"policy,omitempty"`
	// Watch says how the endpoint watch treats this dependency's endpoints.
	Watch *DependencyWatch `yaml:"watch" json:"watch,omitempty"`
}

// DependencyWatch is the endpoint watch's setting for one dependency.
type DependencyWatch struct {
	// Disabled leaves the dependency's endpoints out of the watch (an
	// identity provider only reachable from inside a partner's network).
	Disabled bool `yaml:"disabled" json:"disabled,omitempty"`
	// AllowNetworks lists the non-public networks its endpoints may be
	// reached at, as for Metadata.AllowNetworks. The metadata URL's own
	// checks also accept metadata.allowNetworks.
	AllowNetworks []string `yaml:"allowNetworks" json:"allowNetworks,omitempty"`
}

// Policy is the network policy of the watch's checks of d's endpoints
// (nil d: public addresses only).
func (d *DependencyWatch) Policy() netguard.Policy {
	if d == nil {
		return netguard.Policy{}
	}
	return policyOf(d.AllowNetworks)
}

// Watch tunes the endpoint watch. Zero values take the defaults below.
type Watch struct {
	// Failures is how many consecutive failed checks make an endpoint
	// down (N), together with DownAfter.
	Failures int `yaml:"failures" json:"failures,omitempty"`
	// DownAfter is how long the failed checks must span (M): one blip or a
	// burst within a minute is not an outage.
	DownAfter Duration `yaml:"downAfter" json:"downAfter,omitempty"`
	// Timeout bounds one check of an identity provider endpoint or a
	// metadata URL. API connectors get Entra's own timeout.
	Timeout Duration `yaml:"timeout" json:"timeout,omitempty"`
	// Concurrency is how many checks run at once.
	Concurrency int `yaml:"concurrency" json:"concurrency,omitempty"`
	// LatencyBudget: an endpoint whose answers take longer than this (95th
	// percentile over the last day) is degraded.
	LatencyBudget Duration `yaml:"latencyBudget" json:"latencyBudget,omitempty"`
	// DegradedPercent: an endpoint with at least this share of failed
	// checks over the last day (without being down) is degraded.
	DegradedPercent int `yaml:"degradedPercent" json:"degradedPercent,omitempty"`
	// ObservedFrom names where the checks run, for notices ("IdP Keeper in
	// Azure West Europe"); empty: the Functions region when Azure names it.
	ObservedFrom string `yaml:"observedFrom" json:"observedFrom,omitempty"`
}

// Defaults of the endpoint watch.
const (
	DefaultWatchFailures        = 3
	DefaultWatchDownAfter       = Duration(20 * time.Minute)
	DefaultWatchTimeout         = Duration(10 * time.Second)
	DefaultWatchConcurrency     = 32
	DefaultWatchLatencyBudget   = Duration(10 * time.Second)
	DefaultWatchDegradedPercent = 10
)

// WatchSettings is Watch with the defaults filled in.
func (c *Config) WatchSettings() Watch {
	w := Watch{}
	if c != nil {
		w = c.Watch
	}
	if w.Failures <= 0 {
		w.Failures = DefaultWatchFailures
	}
	if w.DownAfter <= 0 {
		w.DownAfter = DefaultWatchDownAfter
	}
	if w.Timeout <= 0 {
		w.Timeout = DefaultWatchTimeout
	}
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultWatchConcurrency
	}
	if w.LatencyBudget <= 0 {
		w.LatencyBudget = DefaultWatchLatencyBudget
	}
	if w.DegradedPercent <= 0 {
		w.DegradedPercent = DefaultWatchDegradedPercent
	}
	return w
}

// Metadata says where and how to fetch a SAML/WS-Fed partner's metadata.
type Metadata struct {
	// URL of the partner's metadata document.
	URL string `yaml:"url" json:"url,omitempty"`
	// MDQBase is a Metadata Query protocol base URL; with EntityID it is used
	// instead of URL.
	MDQBase  string `yaml:"mdqBase" json:"mdqBase,omitempty"`
	EntityID string `yaml:"entityId" json:"entityId,omitempty"`
	// AllowHTTP permits an http:// URL (only sensible with RequireSignature).
	AllowHTTP bool  `yaml:"allowHttp" json:"allowHttp,omitempty"`
	MaxBytes  int64 `yaml:"maxBytes" json:"maxBytes,omitempty"`
	Trust     Trust `yaml:"trust" json:"trust"`
	// RequireSignature rejects metadata whose XML signature does not verify
	// against Trust.
	RequireSignature bool `yaml:"requireSignature" json:"requireSignature,omitempty"`
	// AllowSHA1 accepts RSA-SHA1 signatures (old federations still use them).
	AllowSHA1 bool `yaml:"allowSha1" json:"allowSha1,omitempty"`
	// AllowNetworks lists the non-public networks (CIDR or single
	// addresses) the fetch may reach: a metadata server inside the
	// organisation's network. Without it, loopback, private, link-local,
	// unique-local and other non-public addresses are refused, after DNS
	// resolution and on every redirect (package netguard).
	AllowNetworks []string `yaml:"allowNetworks" json:"allowNetworks,omitempty"`
}

// Policy is the network policy of the metadata fetch.
func (m *Metadata) Policy() netguard.Policy {
	if m == nil {
		return netguard.Policy{}
	}
	return policyOf(m.AllowNetworks)
}

// Trust anchors for a metadata signature.
type Trust struct {
	// CertificateFile is a PEM file, relative to the config file.
	CertificateFile string `yaml:"certificateFile" json:"certificateFile,omitempty"`
	// SHA256 are accepted signer certificate fingerprints (64 hex digits,
	// colons allowed).
	SHA256 []string `yaml:"sha256" json:"sha256,omitempty"`
}

// Notifications says where notices go.
type Notifications struct {
	Mail    *Mail    `yaml:"mail" json:"mail,omitempty"`
	Webhook *Webhook `yaml:"webhook" json:"webhook,omitempty"`
	Outbox  *Outbox  `yaml:"outbox" json:"outbox,omitempty"`
}

// Mail sends notices with Graph sendMail.
type Mail struct {
	// From is the sending mailbox: a UPN/address or a user object ID.
	From string `yaml:"from" json:"from"`
}

// Webhook posts notices as JSON. The URL often embeds a token, so it is
// never echoed in errors.
type Webhook struct {
	URL string `yaml:"url" json:"url"`
	// AllowNetworks lists the non-public networks the webhook may reach (a
	// relay inside the organisation's network); see Metadata.AllowNetworks.
	AllowNetworks []string `yaml:"allowNetworks" json:"allowNetworks,omitempty"`
}

// Policy is the network policy of webhook deliveries.
func (w *Webhook) Policy() netguard.Policy {
	if w == nil {
		return netguard.Policy{}
	}
	return policyOf(w.AllowNetworks)
}

// policyOf reads an allowNetworks list that validation has already accepted;
// an entry that does not parse allows nothing.
func policyOf(entries []string) netguard.Policy {
	var p netguard.Policy
	for _, e := range entries {
		if allow, err := netguard.ParseAllow([]string{e}); err == nil {
			p.Allow = append(p.Allow, allow...)
		}
	}
	return p
}

// Outbox writes notices as files (local runs, tests).
type Outbox struct {
	Dir string `yaml:"dir" json:"dir"`
}

// Default is the configuration used for a tenant with no file: default lead
// time, secret age and escalation, no owners, no vaults, no notifications.
func Default() *Config {
	return &Config{
		Version: CurrentVersion,
		Defaults: Defaults{
			LeadTime:       DefaultLeadTime,
			MaxSecretAge:   DefaultMaxSecretAge,
			EscalationDays: DefaultEscalationDays(),
			Policy:         DefaultPolicy,
		},
	}
}

// Dependency returns the configured dependency whose Ref is ref
// (case-insensitively), or nil. Federations configured by domain are matched
// by the caller, which knows the federation's domains.
func (c *Config) Dependency(ref string) *Dependency {
	if c == nil {
		return nil
	}
	if i, ok := c.lookups().byRef[strings.ToLower(ref)]; ok && inventory.SameRef(c.Dependencies[i].Ref, ref) {
		return &c.Dependencies[i]
	}
	return nil
}

// Owner returns the owner called name, or nil.
func (c *Config) Owner(name string) *Owner {
	if c == nil || name == "" {
		return nil
	}
	if i, ok := c.lookups().byName[name]; ok {
		return &c.Owners[i]
	}
	return nil
}

// lookupIndex finds a dependency by ref and an owner by name. Assessing a
// tenant with thousands of partners asks for each partner's entry (and its
// owner) several times; a scan of Dependencies each time made assess and
// the report quadratic in the number of partners.
type lookupIndex struct {
	// deps and owners are the slices the index was built from: a config
	// whose lists were replaced or appended to since is indexed again.
	deps   []Dependency
	owners []Owner
	byRef  map[string]int // lower-case ref → first entry
	byName map[string]int // name → first owner
}

// lookupMu guards every Config's index: a config is read by many goroutines
// (job handlers), and an unexported atomic field would make a Config
// unsafe to copy.
var lookupMu sync.Mutex

// lookups returns the config's index, built on first use and again when
// Dependencies or Owners no longer are the slices it was built from (an
// entry edited in place is not seen: change a config by replacing or
// appending entries).
func (c *Config) lookups() *lookupIndex {
	lookupMu.Lock()
	defer lookupMu.Unlock()
	if x := c.index; x != nil && sameSlice(x.deps, c.Dependencies) && sameSlice(x.owners, c.Owners) {
		return x
	}
	x := &lookupIndex{deps: c.Dependencies, owners: c.Owners, byRef: make(map[string]int, len(c.Dependencies)), byName: make(map[string]int, len(c.Owners))}
	for i, d := range c.Dependencies {
		k := strings.ToLower(d.Ref)
		if _, dup := x.byRef[k]; !dup {
			x.byRef[k] = i
		}
	}
	for i, o := range c.Owners {
		if _, dup := x.byName[o.Name]; !dup {
			x.byName[o.Name] = i
		}
	}
	c.index = x
	return x
}

func sameSlice[T any](a, b []T) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// LeadTime is the lead time for d (its override or the default); d may be nil.
func (c *Config) LeadTime(d *Dependency) time.Duration {
	if d != nil && d.LeadTime != nil && *d.LeadTime > 0 {
		return d.LeadTime.Std()
	}
	if c != nil && c.Defaults.LeadTime > 0 {
		return c.Defaults.LeadTime.Std()
	}
	return DefaultLeadTime.Std()
}

// Policy is the effective policy for d; d may be nil.
func (c *Config) Policy(d *Dependency) string {
	if d != nil && d.Policy != "" {
		return d.Policy
	}
	if c != nil && c.Defaults.Policy != "" {
		return c.Defaults.Policy
	}
	return DefaultPolicy
}

// SecretRef is a parsed Dependency.KeyVaultSecret.
type SecretRef struct {
	// Vault is the vault host in lower case ("kv.vault.azure.net"), "" when
	// only a name was given (then any scanned vault matches).
	Vault   string
	Name    string
	Version string
}

// Matches reports whether a Key Vault secret (vault URL, name, version) is
// the one this reference names. Key Vault names are case-insensitive.
func (r SecretRef) Matches(vaultURL, name, version string) bool {
	if !strings.EqualFold(r.Name, name) {
		return false
	}
	if r.Vault != "" && r.Vault != vaultHost(vaultURL) {
		return false
	}
	if r.Version != "" && !strings.EqualFold(r.Version, version) {
		return false
	}
	return true
}
