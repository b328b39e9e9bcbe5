// Package assess turns what a scan read (an inventory.Inventory), what the
// operator said (a config.Config) and a moment ("now") into findings: what
// will break external sign-in, when, for which user flows and domains, and
// who should do what about it.
//
// Assess is a pure function: no clock, no network, no randomness, and the
// same inputs give the same findings in the same order, so it is
// table-tested and a report can be reproduced from a snapshot.
//
// # Severity
//
// Anything with a date (a secret's Key Vault expiry, a certificate's
// notAfter) is classified by Classify against the dependency's lead time
// (config defaults.leadTime or the dependency's override):
//
//	expired   now is at or past the due date
//	critical  due within CriticalWindow(lead): a third of the lead time, at least 7 days
//	warning   due within the lead time (inclusive)
//	(nothing) further away
//
// States without a date are rated by what they risk: an untracked, undated,
// disabled or over-age secret is a warning (nobody will be told before it
// breaks); a connector target that is not https is a warning, critical when
// it sends a basic-auth password; disabled email OTP is a warning, critical
// when a user flow offers nothing else; a federation without a metadata URL
// or owner is info, raised to warning when its certificate is within the
// lead time (then someone must fetch the partner's new certificate).
// A non-active connector certificate, or an active one with a healthy
// successor already uploaded, is info. A user flow takes the worst severity
// of the dependencies it lists that are at warning or above.
package assess

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Finding kinds produced by Assess.
const (
	KindSocialSecretUntracked = "social-secret-untracked"
	KindSocialSecretNoExpiry  = "social-secret-no-expiry"
	KindSocialSecretExpiring  = "social-secret-expiring"
	KindSocialSecretExpired   = "social-secret-expired"
	KindSocialSecretDisabled  = "social-secret-disabled"
	KindSocialSecretTooOld    = "social-secret-too-old"

	KindFederationCertExpiring   = "federation-cert-expiring"
	KindFederationCertExpired    = "federation-cert-expired"
	KindFederationCertUnreadable = "federation-cert-unreadable"
	KindFederationNoMetadataURL  = "federation-no-metadata-url"
	KindFederationNoOwner        = "federation-no-owner"

	KindConnectorCertExpiring           = "connector-cert-expiring"
	KindConnectorCertExpired            = "connector-cert-expired"
	KindConnectorCertMissing            = "connector-cert-missing"
	KindConnectorBasicPasswordUntracked = "connector-basic-password-untracked"
	KindConnectorPasswordExpiring       = "connector-password-expiring"
	KindConnectorPasswordExpired        = "connector-password-expired"
	KindConnectorPasswordDisabled       = "connector-password-disabled"
	KindConnectorPasswordTooOld         = "connector-password-too-old"
	KindConnectorTargetNotHTTPS         = "connector-target-not-https"
	KindConnectorAuthUnknown            = "connector-auth-unknown"

	KindUserFlowAtRisk   = "userflow-at-risk"
	KindEmailOTPDisabled = "email-otp-disabled"

	KindInventoryIncomplete       = "inventory-incomplete"
	KindConfigDependencyUnmatched = "config-dependency-unmatched"
	KindSecretTagUnmatched        = "secret-tag-unmatched"

	// Partner metadata plans (shared/scan adds these from the metadata
	// engine's plan for each partner with a metadata URL).
	KindFederationMetadataFailure       = "federation-metadata-failure"
	KindFederationMetadataChange        = "federation-metadata-change"
	KindFederationMetadataRollover      = "federation-metadata-rollover-pending"
	KindFederationMetadataNoSuccessor   = "federation-metadata-no-successor"
	KindFederationMetadataIssuerChanged = "federation-metadata-issuer-changed"

	// The endpoint watch (shared/watch adds these from its history of
	// checks of partners' sign-in and metadata URLs, social providers'
	// endpoints and API connectors).
	KindEndpointDown        = "endpoint-down"
	KindEndpointDegraded    = "endpoint-degraded"
	KindEndpointTLSExpiring = "endpoint-tls-expiring"
	KindEndpointRecovered   = "endpoint-recovered"
)

// Kinds lists every finding kind a report can hold, for documentation and
// schema tests.
var Kinds = []string{
	KindSocialSecretUntracked, KindSocialSecretNoExpiry, KindSocialSecretExpiring, KindSocialSecretExpired,
	KindSocialSecretDisabled, KindSocialSecretTooOld,
	KindFederationCertExpiring, KindFederationCertExpired, KindFederationCertUnreadable,
	KindFederationNoMetadataURL, KindFederationNoOwner,
	KindConnectorCertExpiring, KindConnectorCertExpired, KindConnectorCertMissing,
	KindConnectorBasicPasswordUntracked, KindConnectorPasswordExpiring, KindConnectorPasswordExpired,
	KindConnectorPasswordDisabled, KindConnectorPasswordTooOld, KindConnectorTargetNotHTTPS, KindConnectorAuthUnknown,
	KindUserFlowAtRisk, KindEmailOTPDisabled,
	KindInventoryIncomplete, KindConfigDependencyUnmatched, KindSecretTagUnmatched,
	KindFederationMetadataFailure, KindFederationMetadataChange, KindFederationMetadataRollover,
	KindFederationMetadataNoSuccessor, KindFederationMetadataIssuerChanged,
	KindEndpointDown, KindEndpointDegraded, KindEndpointTLSExpiring, KindEndpointRecovered,
}

const dateLayout = "2006-01-02"

// Assess evaluates inv against cfg at now. cfg may be nil (config.Default()
// is used). Findings are sorted with SortFindings.
func Assess(inv inventory.Inventory, cfg *config.Config, now time.Time) []Finding {
	if cfg == nil {
		cfg = config.Default()
	}
	a := &assessor{inv: inv, cfg: cfg, now: now}
	a.index()
	for _, s := range inv.SocialIdentityProviders {
		a.social(s)
	}
	for _, f := range inv.Federations {
		a.federation(f)
	}
	for _, c := range inv.APIConnectors {
		a.connector(c)
	}
	a.emailOTP()
	a.userFlows() // after the dependencies: it summarises their findings
	a.gaps()
	a.unmatchedConfig()
	a.unmatchedTags()
	SortFindings(a.out)
	return a.out
}

type assessor struct {
	inv inventory.Inventory
	cfg *config.Config
	now time.Time
	out []Finding

	// lower-case provider/connector ID → IDs of the user flows using it
	flowsByIdP       map[string][]string
	flowsByConnector map[string][]string

	// Lookups by ID (links.go), built on first use: a tenant with
	// thousands of partners and secrets asks them for each dependency.
	linked        bool
	fedByID       map[string]int      // lower-case federation ID → position
	secretsByTag  map[string][]int    // lower-case dependency tag → positions
	secretsByName map[string][]int    // lower-case secret name → positions
	known         map[string]struct{} // "kind/lower-case ID" (and federation domains)
}

func (a *assessor) index() {
	a.flowsByIdP = map[string][]string{}
	a.flowsByConnector = map[string][]string{}
	for _, uf := range a.inv.UserFlows {
		for _, p := range uf.IdentityProviders {
			k := strings.ToLower(p.ID)
			if isEmailOTP(p) {
				// Recognised by its identityProviderType too: the ID is
				// Entra's naming, the type is what Graph documents.
				k = strings.ToLower(inventory.EmailOTPProviderID)
			}
			a.flowsByIdP[k] = appendUnique(a.flowsByIdP[k], uf.ID)
		}
		// A connector may be called at both steps; list the flow once.
		for _, c := range []string{uf.PostFederationSignup, uf.PostAttributeCollection} {
			if c != "" {
				k := strings.ToLower(c)
				a.flowsByConnector[k] = appendUnique(a.flowsByConnector[k], uf.ID)
			}
		}
	}
}

func (a *assessor) add(f Finding) {
	if f.ImpactedUserFlows == nil {
		f.ImpactedUserFlows = []string{}
	}
	if f.ImpactedDomains == nil {
		f.ImpactedDomains = []string{}
	}
	if f.Detail == nil {
		f.Detail = map[string]string{}
	}
	a.out = append(a.out, f)
}

// owner resolves the configured owner of d, else the fallback admin, else nil.
func (a *assessor) owner(d *config.Dependency) *Owner {
	if d != nil {
		if o := a.cfg.Owner(d.Owner); o != nil {
			return &Owner{Name: o.Name, Email: o.Email, Organisation: o.Organisation, Internal: o.Internal}
		}
	}
	if a.cfg.FallbackAdmin != "" {
		return &Owner{Email: a.cfg.FallbackAdmin, Internal: true, Fallback: true}
	}
	return nil
}

func timePtr(t time.Time) *time.Time { return &t }

func date(t time.Time) string { return t.UTC().Format(dateLayout) }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// ---- secrets (social IdP client secrets, basic-auth connector passwords)

// secretKinds names the findings for one kind of secret-backed dependency.
type secretKinds struct {
	untracked, noExpiry, expiring, expired, disabled, tooOld string
	// what is the credential in prose: "client secret", "password".
	what string
	// rotate is the action clause that replaces the credential.
	rotate string
}

// secretsFor returns the Key Vault secrets backing ref: tagged with it, or
// named by the config's keyVaultSecret. configured is the keyVaultSecret
// value (so a typo there can be reported).
func (a *assessor) secretsFor(ref string, d *config.Dependency) (matches []inventory.Secret, configured string) {
	var sref *config.SecretRef
	if d != nil && d.KeyVaultSecret != "" {
		configured = d.KeyVaultSecret
		if r, err := config.ParseSecretRef(d.KeyVaultSecret); err == nil {
			sref = &r
		}
	}
	a.link()
	positions := append([]int(nil), a.secretsByTag[strings.ToLower(ref)]...)
	if sref != nil {
		for _, i := range a.secretsByName[strings.ToLower(sref.Name)] {
			s := a.inv.Secrets[i]
			if sref.Matches(s.Vault, s.Name, s.Version) {
				positions = append(positions, i)
			}
		}
	}
	// In inventory order, each once (a secret both tagged and named).
	sort.Ints(positions)
	for k, i := range positions {
		if k > 0 && positions[k-1] == i {
			continue
		}
		s := a.inv.Secrets[i]
		if inventory.SameRef(dependencyTag(s), ref) || (sref != nil && sref.Matches(s.Vault, s.Name, s.Version)) {
			matches = append(matches, s)
		}
	}
	return matches, configured
}

// dependencyTag is the value of the idpkeeper-dependency tag. Tag names are
// matched case-insensitively because the portal lets people type them. It
// is the only tag value IdP Keeper ever copies into output.
func dependencyTag(s inventory.Secret) string {
	if v, ok := s.Tags[inventory.TagDependency]; ok {
		return v
	}
	for k, v := range s.Tags {
		if strings.EqualFold(k, inventory.TagDependency) {
			return v
		}
	}
	return ""
}

func enabled(s inventory.Secret) bool { return s.Enabled == nil || *s.Enabled }

// newest picks the secret that represents the credential now: the most
// recently updated (then created), ties broken by vault, name and version so
// the choice is deterministic.
func newest(ss []inventory.Secret) inventory.Secret {
	best := ss[0]
	for _, s := range ss[1:] {
		if secretNewer(s, best) {
			best = s
		}
	}
	return best
}

func secretNewer(a, b inventory.Secret) bool {
	ta, tb := secretTime(a), secretTime(b)
	if !ta.Equal(tb) {
		return ta.After(tb)
	}
	ka := a.Vault + "\x00" + a.Name + "\x00" + a.Version
	kb := b.Vault + "\x00" + b.Name + "\x00" + b.Version
	return ka > kb
}

func secretTime(s inventory.Secret) time.Time {
	switch {
	case s.Updated != nil:
		return *s.Updated
	case s.Created != nil:
		return *s.Created
	}
	return time.Time{}
}

// secretIdentity names a secret (without version) for IDs and details.
func secretIdentity(s inventory.Secret) string {
	host := s.Vault
	if u, err := url.Parse(s.Vault); err == nil && u.Host != "" {
		host = u.Hostname()
	}
	return strings.ToLower(host) + "/" + s.Name
}

func secretDetail(s inventory.Secret, candidates int) map[string]string {
	d := map[string]string{
		"vault":         s.Vault,
		"secretName":    s.Name,
		"secretVersion": s.Version,
		"enabled":       fmt.Sprint(enabled(s)),
	}
	if s.Expires != nil {
		d["secretExpires"] = stamp(*s.Expires)
	}
	if s.Created != nil {
		d["secretCreated"] = stamp(*s.Created)
	}
	if s.Updated != nil {
		d["secretUpdated"] = stamp(*s.Updated)
	}
	if candidates > 1 {
		d["matchingSecrets"] = fmt.Sprint(candidates)
	}
	for k, v := range d {
		if v == "" {
			delete(d, k)
		}
	}
	return d
}

// assessSecret rates the Key Vault secret that tracks a credential.
func (a *assessor) assessSecret(dep Dependency, d *config.Dependency, k secretKinds, flows []string) {
	base := Finding{Dependency: dep, ImpactedUserFlows: flows, Owner: a.owner(d)}
	matches, configured := a.secretsFor(dep.Ref, d)
	lead := a.cfg.LeadTime(d)

	if len(matches) == 0 {
		f := base
		f.Kind, f.Severity = k.untracked, Warning
		f.ID = NewID(f.Kind, dep.Ref)
		if configured != "" {
			f.Detail = map[string]string{"configuredSecret": configured}
			f.Action = fmt.Sprintf("Fix keyVaultSecret %q for %s in the config or create that secret: no such secret was found in the scanned vaults, so the %s's expiry is not tracked.", configured, dep.Ref, k.what)
		} else {
			f.Action = fmt.Sprintf("Store the %s of %s in Key Vault with an expiry date and tag it %s=%s (or set keyVaultSecret in the config) so its expiry is tracked.", k.what, dep.Name, inventory.TagDependency, dep.Ref)
		}
		a.add(f)
		return
	}

	var live []inventory.Secret
	for _, s := range matches {
		if enabled(s) {
			live = append(live, s)
		}
	}
	if len(live) == 0 {
		s := newest(matches)
		f := base
		f.Kind, f.Severity = k.disabled, Warning
		f.ID = NewID(f.Kind, dep.Ref, secretIdentity(s), s.Version)
		f.Detail = secretDetail(s, len(matches))
		f.Action = fmt.Sprintf("Re-enable Key Vault secret %s or store the current %s of %s as a new enabled version, so its expiry is tracked and it can be rotated.", s.Name, k.what, dep.Name)
		a.add(f)
		return
	}
	s := newest(live)
	detail := secretDetail(s, len(matches))

	if s.Expires == nil {
		f := base
		f.Kind, f.Severity = k.noExpiry, Warning
		// The version is left out: setting a new version without an expiry
		// is the same unresolved problem.
		f.ID = NewID(f.Kind, dep.Ref, secretIdentity(s))
		f.Detail = detail
		f.Action = fmt.Sprintf("Set an expiry date on Key Vault secret %s matching the real lifetime of the %s of %s, so IdP Keeper can warn before it runs out.", s.Name, k.what, dep.Name)
		a.add(f)
	} else if sev, ok := Classify(*s.Expires, a.now, lead); ok {
		f := base
		f.Severity = sev
		f.Due = timePtr(*s.Expires)
		f.Detail = detail
		if sev == Expired {
			f.Kind = k.expired
			f.Action = fmt.Sprintf("%s now: Key Vault secret %s says it expired on %s.", k.rotate, s.Name, date(*s.Expires))
		} else {
			f.Kind = k.expiring
			f.Action = fmt.Sprintf("%s before %s.", k.rotate, date(*s.Expires))
		}
		f.ID = NewID(f.Kind, dep.Ref, secretIdentity(s), s.Version)
		a.add(f)
	}

	// Age: a secret that never expires should still be replaced now and then.
	maxAge := a.cfg.Defaults.MaxSecretAge.Std()
	created := s.Created
	if created == nil {
		created = s.Updated
	}
	if maxAge > 0 && created != nil && a.now.Sub(*created) > maxAge {
		limit := created.Add(maxAge)
		f := base
		f.Kind, f.Severity = k.tooOld, Warning
		f.Due = timePtr(limit)
		f.ID = NewID(f.Kind, dep.Ref, secretIdentity(s), s.Version)
		f.Detail = secretDetail(s, len(matches)) // not shared with the expiry finding
		f.Detail["maxSecretAge"] = a.cfg.Defaults.MaxSecretAge.String()
		f.Action = fmt.Sprintf("%s: the current version was created on %s, more than %s ago.", k.rotate, date(*created), a.cfg.Defaults.MaxSecretAge)
		a.add(f)
	}
}

// ---- social identity providers

func (a *assessor) social(s inventory.SocialIdentityProvider) {
	ref := inventory.Ref(inventory.KindSocial, s.ID)
	name := s.DisplayName
	if name == "" {
		name = s.ID
	}
	dep := Dependency{Ref: ref, Kind: inventory.KindSocial, ID: s.ID, Name: name}
	console := "at the provider"
	switch strings.ToLower(s.Type) {
	case "google":
		console = "in Google Cloud console"
	case "facebook":
		console = "in Meta for Developers"
	}
	k := secretKinds{
		untracked: KindSocialSecretUntracked, noExpiry: KindSocialSecretNoExpiry,
		expiring: KindSocialSecretExpiring, expired: KindSocialSecretExpired,
		disabled: KindSocialSecretDisabled, tooOld: KindSocialSecretTooOld,
		what:   "client secret",
		rotate: fmt.Sprintf("Create a new client secret for %s %s, set it on the Entra identity provider and store it as a new Key Vault version", name, console),
	}
	a.assessSecret(dep, a.cfg.Dependency(ref), k, a.flowsFor(s.ID))
}

func (a *assessor) flowsFor(idpID string) []string {
	return sortedCopy(a.flowsByIdP[strings.ToLower(idpID)])
}

// ---- federations

// federationConfig finds the config entry of a federation: by Graph ID
// first, then by any of its domains.
func (a *assessor) federationConfig(f inventory.Federation) *config.Dependency {
	if d := a.cfg.Dependency(inventory.Ref(inventory.KindFederation, f.ID)); d != nil {
		return d
	}
	for _, dom := range f.Domains {
		if d := a.cfg.Dependency(inventory.Ref(inventory.KindFederation, dom)); d != nil {
			return d
		}
	}
	return nil
}

func (a *assessor) federation(fed inventory.Federation) {
	ref := inventory.Ref(inventory.KindFederation, fed.ID)
	name := fed.DisplayName
	if name == "" {
		name = fed.ID
	}
	d := a.federationConfig(fed)
	lead := a.cfg.LeadTime(d)
	base := Finding{
		Dependency:        Dependency{Ref: ref, Kind: inventory.KindFederation, ID: fed.ID, Name: name},
		ImpactedUserFlows: a.flowsFor(fed.ID),
		ImpactedDomains:   sortedCopy(fed.Domains),
		Owner:             a.owner(d),
	}
	domains := strings.Join(base.ImpactedDomains, ", ")
	if domains == "" {
		domains = "its domains"
	}
	hasMetadata := d != nil && d.Metadata != nil && (d.Metadata.URL != "" || d.Metadata.MDQBase != "")

	// certAtRisk raises the "who/where" findings: they matter once someone
	// has to act on the certificate.
	certAtRisk := false
	var certDue *time.Time
	if c := fed.SigningCertificate; c != nil {
		certDue = timePtr(c.NotAfter)
		thumb := c.SHA256
		if thumb == "" {
			thumb = c.SHA1
		}
		if sev, ok := Classify(c.NotAfter, a.now, lead); ok {
			certAtRisk = true
			f := base
			f.Severity, f.Due = sev, certDue
			f.Detail = map[string]string{
				"thumbprintSha1":   c.SHA1,
				"thumbprintSha256": c.SHA256,
				"subject":          c.Subject,
				"notAfter":         stamp(c.NotAfter),
			}
			src := "Ask the partner for its new signing certificate"
			if hasMetadata {
				src = "Take the partner's new signing certificate from its metadata"
			}
			if sev == Expired {
				f.Kind = KindFederationCertExpired
				f.Action = fmt.Sprintf("%s and update the %s federation in Entra now: the certificate Entra holds expired on %s, so guests from %s cannot sign in.", src, name, date(c.NotAfter), domains)
			} else {
				f.Kind = KindFederationCertExpiring
				f.Action = fmt.Sprintf("%s and update the %s federation in Entra before %s.", src, name, date(c.NotAfter))
			}
			f.ID = NewID(f.Kind, ref, thumb)
			a.add(f)
		}
	} else {
		certAtRisk = true
		f := base
		f.Kind, f.Severity = KindFederationCertUnreadable, Warning
		f.ID = NewID(f.Kind, ref)
		f.Detail = map[string]string{}
		if fed.CertificateError != "" {
			f.Detail["certificateError"] = fed.CertificateError
		}
		f.Action = fmt.Sprintf("Check the signing certificate of the %s federation in Entra: IdP Keeper could not read it, so its expiry is unknown.", name)
		a.add(f)
	}

	sev := Info
	if certAtRisk {
		sev = Warning
	}
	if !hasMetadata {
		f := base
		f.Kind, f.Severity, f.Due = KindFederationNoMetadataURL, sev, certDue
		f.ID = NewID(f.Kind, ref)
		f.Action = fmt.Sprintf("Add the partner's SAML metadata URL for %s to the config (dependencies[].metadata.url) so IdP Keeper can see its next signing certificate coming.", name)
		a.add(f)
	}
	if d == nil || d.Owner == "" {
		f := base
		f.Kind, f.Severity, f.Due = KindFederationNoOwner, sev, certDue
		f.ID = NewID(f.Kind, ref)
		f.Action = fmt.Sprintf("Name the partner contact for %s (%s) as its owner in the config, so certificate notices reach someone who can act.", name, domains)
		a.add(f)
	}
}

// ---- API connectors

func (a *assessor) connector(c inventory.APIConnector) {
	ref := inventory.Ref(inventory.KindConnector, c.ID)
	name := c.DisplayName
	if name == "" {
		name = c.ID
	}
	d := a.cfg.Dependency(ref)
	dep := Dependency{Ref: ref, Kind: inventory.KindConnector, ID: c.ID, Name: name}
	flows := sortedCopy(a.flowsByConnector[strings.ToLower(c.ID)])
	base := Finding{Dependency: dep, ImpactedUserFlows: flows, Owner: a.owner(d)}

	// The target URL is never copied into output: Azure Functions targets
	// commonly carry their function key in ?code=.
	if u, err := url.Parse(c.TargetURL); err != nil || u.Scheme != "https" || u.Host == "" {
		f := base
		f.Kind, f.Severity = KindConnectorTargetNotHTTPS, Warning
		scheme := ""
		if err == nil {
			scheme = u.Scheme
		}
		f.Detail = map[string]string{"targetScheme": scheme}
		if c.AuthType == inventory.AuthBasic {
			// The password goes with every call.
			f.Severity = Critical
		}
		f.ID = NewID(f.Kind, ref)
		f.Action = fmt.Sprintf("Change the target URL of API connector %s to an https:// endpoint, so sign-up data and credentials are not sent in the clear.", name)
		a.add(f)
	}

	switch c.AuthType {
	case inventory.AuthBasic:
		k := secretKinds{
			untracked: KindConnectorBasicPasswordUntracked, noExpiry: KindConnectorBasicPasswordUntracked,
			expiring: KindConnectorPasswordExpiring, expired: KindConnectorPasswordExpired,
			disabled: KindConnectorPasswordDisabled, tooOld: KindConnectorPasswordTooOld,
			what:   "basic-auth password",
			rotate: fmt.Sprintf("Set a new basic-auth password on the API behind connector %s and on the connector, and store it as a new Key Vault version", name),
		}
		a.assessSecret(dep, d, k, flows)
	case inventory.AuthCertificate:
		a.connectorCerts(base, c, a.cfg.LeadTime(d))
	default:
		f := base
		f.Kind, f.Severity = KindConnectorAuthUnknown, Info
		f.ID = NewID(f.Kind, ref)
		f.Detail = map[string]string{"authenticationType": c.AuthType}
		f.Action = fmt.Sprintf("Check how API connector %s authenticates: IdP Keeper could not tell, so it cannot track its credential.", name)
		a.add(f)
	}
}

func (a *assessor) connectorCerts(base Finding, c inventory.APIConnector, lead time.Duration) {
	name := base.Dependency.Name
	if len(c.Certificates) == 0 {
		f := base
		f.Kind, f.Severity = KindConnectorCertMissing, Warning
		f.ID = NewID(f.Kind, base.Dependency.Ref)
		f.Action = fmt.Sprintf("Upload a client certificate to API connector %s: it uses certificate authentication but lists none.", name)
		a.add(f)
		return
	}
	// The effective certificate is the active one; if Graph marks none
	// active, the one valid longest is what Entra will use.
	eff := -1
	for i, cert := range c.Certificates {
		if cert.Active && (eff < 0 || cert.NotAfter.After(c.Certificates[eff].NotAfter)) {
			eff = i
		}
	}
	if eff < 0 {
		for i, cert := range c.Certificates {
			if eff < 0 || cert.NotAfter.After(c.Certificates[eff].NotAfter) {
				eff = i
			}
		}
	}
	active := c.Certificates[eff]
	_, activeAtRisk := Classify(active.NotAfter, a.now, lead)

	// A successor takes over without a gap and is itself healthy.
	successor := -1
	for i, cert := range c.Certificates {
		if i == eff || !cert.NotAfter.After(active.NotAfter) || cert.NotBefore.After(active.NotAfter) {
			continue
		}
		if _, risk := Classify(cert.NotAfter, a.now, lead); risk {
			continue
		}
		if successor < 0 || cert.NotAfter.After(c.Certificates[successor].NotAfter) {
			successor = i
		}
	}

	for i, cert := range c.Certificates {
		sev, ok := Classify(cert.NotAfter, a.now, lead)
		if !ok {
			continue
		}
		f := base
		f.Due = timePtr(cert.NotAfter)
		f.Detail = map[string]string{
			"thumbprint": cert.Thumbprint,
			"notBefore":  stamp(cert.NotBefore),
			"notAfter":   stamp(cert.NotAfter),
			"active":     fmt.Sprint(cert.Active),
		}
		f.Kind = KindConnectorCertExpiring
		if sev == Expired {
			f.Kind = KindConnectorCertExpired
		}
		switch {
		case i != eff:
			// Not the one in use: clutter, unless it is all there is.
			f.Severity = Info
			f.Detail["activeThumbprint"] = active.Thumbprint
			if activeAtRisk {
				f.Action = fmt.Sprintf("Remove certificate %s from API connector %s when its active certificate is replaced; it is not in use.", cert.Thumbprint, name)
			} else {
				f.Action = fmt.Sprintf("Remove certificate %s from API connector %s at the next change; it is not in use and the active one is valid until %s.", cert.Thumbprint, name, date(active.NotAfter))
			}
		case successor >= 0 && sev != Expired:
			next := c.Certificates[successor]
			f.Severity = Info
			f.Detail["successorThumbprint"] = next.Thumbprint
			f.Action = fmt.Sprintf("No action needed before %s: certificate %s, valid until %s, is already uploaded to API connector %s to take over.", date(cert.NotAfter), next.Thumbprint, date(next.NotAfter), name)
		default:
			f.Severity = sev
			if sev == Expired {
				f.Action = fmt.Sprintf("Upload a new client certificate to API connector %s now and install it on the API: the active one expired on %s.", name, date(cert.NotAfter))
			} else {
				f.Action = fmt.Sprintf("Upload a new client certificate to API connector %s and install it on the API before %s.", name, date(cert.NotAfter))
			}
		}
		f.ID = NewID(f.Kind, base.Dependency.Ref, cert.Thumbprint)
		a.add(f)
	}
}

// ---- email one-time passcode

func (a *assessor) emailOTP() {
	e := a.inv.EmailOTP
	if e == nil {
		return // not read: a Gap says so
	}
	// "default" has meant enabled for external users since October 2021.
	disabled := strings.EqualFold(e.State, "disabled") || strings.EqualFold(e.AllowExternalIDToUseEmailOTP, "disabled")
	if !disabled {
		return
	}
	flows := a.flowsFor(inventory.EmailOTPProviderID)
	d := a.cfg.Dependency(inventory.EmailOTPRef)
	f := Finding{
		ID:                NewID(KindEmailOTPDisabled, inventory.EmailOTPRef),
		Kind:              KindEmailOTPDisabled,
		Severity:          Warning,
		Dependency:        Dependency{Ref: inventory.EmailOTPRef, Kind: inventory.KindEmailOTP, ID: "email", Name: "Email one-time passcode"},
		ImpactedUserFlows: flows,
		Owner:             a.owner(d),
		Detail: map[string]string{
			"state":                        e.State,
			"allowExternalIdToUseEmailOtp": e.AllowExternalIDToUseEmailOTP,
		},
		Action: "Enable email one-time passcode for external users, so guests whose identity provider fails can still redeem invitations and sign in.",
	}
	if r := a.inv.Redemption; r != nil && r.FallbackProvider != "" {
		f.Detail["redemptionFallback"] = r.FallbackProvider
	}
	// A flow that offers nothing but email OTP cannot sign anyone up.
	var only []string
	for _, uf := range a.inv.UserFlows {
		if len(uf.IdentityProviders) == 1 && isEmailOTP(uf.IdentityProviders[0]) {
			only = append(only, uf.ID)
		}
	}
	if len(only) > 0 {
		f.Severity = Critical
		sort.Strings(only)
		f.Detail["onlyProviderIn"] = strings.Join(only, ", ")
	}
	a.add(f)
}

func isEmailOTP(p inventory.UserFlowIdentityProvider) bool {
	return inventory.SameID(p.ID, inventory.EmailOTPProviderID) || strings.EqualFold(p.Type, inventory.EmailOTPProviderType)
}

// ---- user flows

func (a *assessor) userFlows() {
	for _, uf := range a.inv.UserFlows {
		var risky []Finding
		for _, f := range a.out {
			if f.Severity < Warning || f.Kind == KindUserFlowAtRisk || f.Kind == KindEmailOTPDisabled && len(uf.IdentityProviders) > 1 {
				continue
			}
			if containsFold(f.ImpactedUserFlows, uf.ID) {
				risky = append(risky, f)
			}
		}
		if len(risky) == 0 {
			continue
		}
		ref := inventory.Ref(inventory.KindUserFlow, uf.ID)
		worst := Info
		var due *time.Time
		var refs, ids, domains []string
		for _, f := range risky {
			if f.Severity > worst {
				worst = f.Severity
			}
			if f.Due != nil && (due == nil || f.Due.Before(*due)) {
				due = f.Due
			}
			refs = appendUnique(refs, f.Dependency.Ref)
			ids = append(ids, f.ID)
			for _, dom := range f.ImpactedDomains {
				domains = appendUnique(domains, dom)
			}
		}
		sort.Strings(refs)
		sort.Strings(ids)
		sort.Strings(domains)
		when := "as soon as possible"
		if due != nil {
			if due.After(a.now) {
				when = "before " + date(*due)
			} else {
				when = "now"
			}
		}
		f := Finding{
			ID:                NewID(KindUserFlowAtRisk, append([]string{ref}, refs...)...),
			Kind:              KindUserFlowAtRisk,
			Severity:          worst,
			Dependency:        Dependency{Ref: ref, Kind: inventory.KindUserFlow, ID: uf.ID, Name: uf.ID},
			Due:               due,
			ImpactedUserFlows: []string{uf.ID},
			ImpactedDomains:   domains,
			Owner:             a.owner(a.cfg.Dependency(ref)),
			Detail: map[string]string{
				"atRisk":   strings.Join(refs, ", "),
				"findings": strings.Join(ids, ", "),
			},
			Action: fmt.Sprintf("Resolve the findings for %s %s, or take them out of user flow %s, so sign-up through it keeps working.", strings.Join(refs, ", "), when, uf.ID),
		}
		a.add(f)
	}
}

// ---- completeness and drift

func (a *assessor) gaps() {
	if len(a.inv.Gaps) == 0 {
		return
	}
	var sources, reasons []string
	for _, g := range a.inv.Gaps {
		sources = append(sources, g.Source)
		reasons = append(reasons, g.Source+": "+g.Reason)
	}
	sort.Strings(sources)
	sort.Strings(reasons)
	a.add(Finding{
		ID:         NewID(KindInventoryIncomplete, sources...),
		Kind:       KindInventoryIncomplete,
		Severity:   Warning,
		Dependency: Dependency{Ref: "inventory/" + a.inv.TenantID, Kind: "inventory", ID: a.inv.TenantID, Name: "tenant inventory"},
		Owner:      a.owner(nil),
		Detail:     map[string]string{"sources": strings.Join(sources, ", "), "reasons": strings.Join(reasons, "; ")},
		Action:     "Give IdP Keeper the read access listed in the detail and scan again: dependencies it could not read have no findings.",
	})
}

// unmatchedConfig reports config entries that name nothing in the tenant:
// a typo or a removed partner, and either way nobody is being told about
// what the entry was meant to cover.
func (a *assessor) unmatchedConfig() {
	for _, d := range a.cfg.Dependencies {
		kind, id, ok := inventory.ParseRef(d.Ref)
		if !ok || a.exists(kind, id) {
			continue
		}
		dd := d
		a.add(Finding{
			ID:         NewID(KindConfigDependencyUnmatched, d.Ref),
			Kind:       KindConfigDependencyUnmatched,
			Severity:   Info,
			Dependency: Dependency{Ref: d.Ref, Kind: kind, ID: id},
			Owner:      a.owner(&dd),
			Action:     fmt.Sprintf("Correct or remove dependency %s in the config: the tenant has no such %s.", d.Ref, kind),
		})
	}
}

// unmatchedTags reports Key Vault secrets tagged for a dependency the tenant
// does not have.
func (a *assessor) unmatchedTags() {
	for _, s := range a.inv.Secrets {
		tag := dependencyTag(s)
		if tag == "" {
			continue
		}
		kind, id, ok := inventory.ParseRef(tag)
		if ok && a.exists(kind, id) {
			continue
		}
		a.add(Finding{
			ID:         NewID(KindSecretTagUnmatched, secretIdentity(s), tag),
			Kind:       KindSecretTagUnmatched,
			Severity:   Info,
			Dependency: Dependency{Ref: tag, Kind: kind, ID: id},
			Owner:      a.owner(nil),
			Detail:     map[string]string{"vault": s.Vault, "secretName": s.Name, inventory.TagDependency: tag},
			Action:     fmt.Sprintf("Correct the %s tag of Key Vault secret %s: %q names no dependency of this tenant.", inventory.TagDependency, s.Name, tag),
		})
	}
}

func (a *assessor) exists(kind, id string) bool {
	if kind == inventory.KindEmailOTP {
		return inventory.SameID(id, "email")
	}
	a.link()
	_, ok := a.known[kind+"/"+strings.ToLower(id)]
	return ok
}

func appendUnique(list []string, s string) []string {
	for _, v := range list {
		if v == s {
			return list
		}
	}
	return append(list, s)
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

func sortedCopy(list []string) []string {
	out := append([]string{}, list...)
	sort.Strings(out)
	return out
}
