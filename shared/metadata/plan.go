package metadata

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Policy says what IdP Keeper may do with a change it found.
type Policy string

// Policies (the same words as config.PolicyAuto/Propose/Notify).
const (
	// PolicyAuto applies verified certificate and endpoint changes.
	PolicyAuto Policy = "auto"
	// PolicyPropose prepares the change for an owner to approve.
	PolicyPropose Policy = "propose"
	// PolicyNotify never applies; it only tells the owner.
	PolicyNotify Policy = "notify"
)

// Outcome is the one-word verdict of a plan.
type Outcome string

// Outcomes, from the most to the least urgent when several apply.
const (
	// OutcomeMetadataFailure: metadata unreachable, invalid, unsigned when
	// required, or expired; the last good metadata is kept, nothing changes.
	OutcomeMetadataFailure Outcome = "metadata-failure"
	// OutcomeIssuerChanged: the entityID differs from Entra's issuerUri.
	// Never applied automatically: it can mean a different partner.
	OutcomeIssuerChanged Outcome = "issuer-changed"
	// OutcomeCertificateReplaced: Entra's certificate is gone from the
	// metadata.
	OutcomeCertificateReplaced Outcome = "certificate-replaced"
	// OutcomeEndpointChanged: the sign-in endpoint or the protocol changed.
	OutcomeEndpointChanged Outcome = "endpoint-changed"
	// OutcomeCertificateExpiring: Entra's certificate expires within the
	// lead time and the partner publishes no successor.
	OutcomeCertificateExpiring Outcome = "certificate-expiring"
	// OutcomeRolloverPending: the metadata lists Entra's certificate and a
	// successor; keep the current one and watch.
	OutcomeRolloverPending Outcome = "rollover-pending"
	// OutcomeInSync: nothing to do.
	OutcomeInSync Outcome = "in-sync"
)

// Action is what the caller should do with a plan.
type Action string

// Actions.
const (
	ActionApply   Action = "apply"   // PATCH the federation with Patch
	ActionPropose Action = "propose" // ask the owner to approve Patch
	ActionNotify  Action = "notify"  // tell the owner; nothing to PATCH
	ActionNone    Action = "none"
)

// Fields of samlOrWsFedExternalDomainFederation a plan can change (Graph
// property names).
const (
	FieldIssuerURI          = "issuerUri"
	FieldPassiveSignInURI   = "passiveSignInUri"
	FieldSigningCertificate = "signingCertificate"
	FieldPreferredProtocol  = "preferredAuthenticationProtocol"
)

// DefaultCertificateLeadTime is PlanOptions.LeadTime when zero.
const DefaultCertificateLeadTime = 30 * 24 * time.Hour

// PlanOptions tunes Plan.
type PlanOptions struct {
	// LeadTime: a certificate expiring sooner than this counts as
	// expiring. Zero means DefaultCertificateLeadTime.
	LeadTime time.Duration
}

// Change is one field that differs. Certificates are shown by SHA-256
// thumbprint.
type Change struct {
	Field string `json:"field"`
	From  string `json:"from"`
	To    string `json:"to"`
}

// Patch is the body of PATCH /directory/federationConfigurations/{id}: only
// the fields that change are set.
type Patch struct {
	IssuerURI          string `json:"issuerUri,omitempty"`
	PassiveSignInURI   string `json:"passiveSignInUri,omitempty"`
	SigningCertificate string `json:"signingCertificate,omitempty"` // base64 DER
	PreferredProtocol  string `json:"preferredAuthenticationProtocol,omitempty"`
}

// ChangePlan is what a metadata refresh means for Entra's configuration of
// one partner.
type ChangePlan struct {
	// ID is deterministic (partner, outcome and changes), so an approval
	// can name the plan and a re-run finds the same one.
	ID        string  `json:"id"`
	PartnerID string  `json:"partnerId"`
	Outcome   Outcome `json:"outcome"`
	Action    Action  `json:"action"`
	// Reason is one sentence for a report or a notice.
	Reason  string   `json:"reason"`
	Changes []Change `json:"changes,omitempty"`
	// Patch is set for ActionApply and ActionPropose.
	Patch *Patch `json:"patch,omitempty"`
	// Notes are secondary findings (an expiring certificate next to an
	// endpoint change, an ambiguous choice).
	Notes []string `json:"notes,omitempty"`
	// CurrentCertificate is Entra's certificate (its expiry is what the
	// ledger records); nil when Entra holds none or it does not decode.
	CurrentCertificate *inventory.Certificate `json:"currentCertificate,omitempty"`
	// Successor is the certificate the partner will roll to (rollover
	// pending) or has rolled to (certificate replaced).
	Successor *inventory.Certificate `json:"successor,omitempty"`
	// WatchMoreOften asks the scheduler to refresh this partner sooner.
	WatchMoreOften bool `json:"watchMoreOften,omitempty"`
	// FailureKind is the metadata failure for OutcomeMetadataFailure.
	FailureKind ErrorKind `json:"failureKind,omitempty"`
	// LastGoodFetchedAt is when the kept metadata was fetched.
	LastGoodFetchedAt *time.Time `json:"lastGoodFetchedAt,omitempty"`
}

// Plan compares a partner's observed metadata with Entra's current
// federation configuration. It is pure: no I/O, the clock is an argument.
func Plan(current inventory.Federation, obs Observation, policy Policy, now time.Time, opts PlanOptions) ChangePlan {
	if opts.LeadTime <= 0 {
		opts.LeadTime = DefaultCertificateLeadTime
	}
	p := ChangePlan{PartnerID: current.ID}
	curCert, curCertErr := currentCertificate(current)
	p.CurrentCertificate = curCert
	if obs.Last != nil {
		t := obs.Last.FetchedAt
		p.LastGoodFetchedAt = &t
	}

	ent := obs.Entity
	switch {
	case obs.Err != nil || ent == nil:
		kind := KindOf(obs.Err)
		if kind == "" {
			kind = KindNotMetadata
		}
		msg := "no metadata was observed"
		if obs.Err != nil {
			msg = obs.Err.Error()
		}
		return p.fail(kind, msg)
	case ent.ValidUntil != nil && !now.Before(*ent.ValidUntil):
		return p.fail(KindExpired, fmt.Sprintf("the metadata's validUntil %s has passed", ent.ValidUntil.UTC().Format(time.RFC3339)))
	}

	protocol := current.PreferredProtocol
	if protocol == "" {
		protocol = ProtocolSAML
	}
	// A role whose own validUntil has passed since the document was read
	// (a kept record ages) counts as absent, as it would have at reading.
	live := func(protocol string) *Role {
		r := ent.Role(protocol)
		if r != nil && r.ValidUntil != nil && !now.Before(*r.ValidUntil) {
			return nil
		}
		return r
	}
	role := live(protocol)
	newProtocol := protocol
	if role == nil {
		// The partner dropped the role Entra uses; switch to the other
		// one if it publishes it.
		other := map[string]string{ProtocolSAML: ProtocolWSFed, ProtocolWSFed: ProtocolSAML}[protocol]
		if role = live(other); role == nil {
			return p.fail(KindNotMetadata, "the entity has neither a SAML IdP nor a WS-Fed STS role")
		}
		newProtocol = other
	}

	var (
		changes []Change
		patch   Patch
	)
	if ent.EntityID != current.IssuerURI {
		changes = append(changes, Change{FieldIssuerURI, current.IssuerURI, ent.EntityID})
		patch.IssuerURI = ent.EntityID
	}
	if newProtocol != current.PreferredProtocol && (current.PreferredProtocol != "" || newProtocol != ProtocolSAML) {
		changes = append(changes, Change{FieldPreferredProtocol, current.PreferredProtocol, newProtocol})
		patch.PreferredProtocol = newProtocol
	}
	endpoints, preferred := roleEndpoints(role, newProtocol)
	if !slices.Contains(endpoints, current.PassiveSignInURI) {
		if preferred == "" {
			return p.fail(KindNotMetadata, fmt.Sprintf("the %s role publishes no usable sign-in endpoint", newProtocol))
		}
		changes = append(changes, Change{FieldPassiveSignInURI, current.PassiveSignInURI, preferred})
		patch.PassiveSignInURI = preferred
	}

	// Certificates.
	certs := role.SigningCertificates
	var (
		certReplaced, expiring, rollover, ambiguous bool
		replacement                                 *SigningCertificate
	)
	idx := -1
	if curCert != nil {
		idx = slices.IndexFunc(certs, func(c SigningCertificate) bool { return c.SHA256 == curCert.SHA256 })
	}
	if idx >= 0 {
		if s := successor(certs, curCert); s != nil {
			rollover = true
			p.Successor = &s.Certificate
		} else if curCert.NotAfter.Sub(now) < opts.LeadTime {
			expiring = true
		}
	} else {
		certReplaced = true
		valid := validCertificates(certs, now)
		switch len(valid) {
		case 0:
		case 1:
			replacement = &valid[0]
		default:
			// Entra holds one certificate; when several are valid the
			// one the partner signs with is not known from metadata.
			// Take the longest-standing and let a person confirm.
			ambiguous = true
			replacement = &valid[0]
		}
		if replacement != nil {
			p.Successor = &replacement.Certificate
			changes = append(changes, Change{FieldSigningCertificate, thumb(curCert), replacement.SHA256})
			patch.SigningCertificate = replacement.Base64
		}
	}

	p.Changes = changes
	issuerChanged := patch.IssuerURI != ""
	endpointChanged := patch.PassiveSignInURI != "" || patch.PreferredProtocol != ""
	switch {
	case issuerChanged:
		p.Outcome = OutcomeIssuerChanged
		p.Reason = fmt.Sprintf("The partner's entityID is now %q but Entra trusts issuer %q; an issuer change is never applied automatically.", ent.EntityID, current.IssuerURI)
	case certReplaced && replacement == nil:
		p.Outcome = OutcomeCertificateReplaced
		p.Reason = "Entra's signing certificate is no longer in the partner's metadata and the metadata lists no certificate valid now; the partner must publish one."
	case certReplaced:
		p.Outcome = OutcomeCertificateReplaced
		p.Reason = fmt.Sprintf("Entra's signing certificate %s is no longer in the partner's metadata; the partner now publishes %s (valid until %s).",
			orNone(thumb(curCert)), replacement.SHA256, replacement.NotAfter.Format("2006-01-02"))
	case endpointChanged:
		p.Outcome = OutcomeEndpointChanged
		p.Reason = fmt.Sprintf("The partner's %s sign-in endpoint differs from Entra's %q.", newProtocol, current.PassiveSignInURI)
		if patch.PreferredProtocol != "" {
			p.Reason = fmt.Sprintf("The partner no longer publishes a %s role; Entra should use %s at %q.", protocol, newProtocol, preferred)
		}
	case expiring:
		p.Outcome = OutcomeCertificateExpiring
		p.Reason = fmt.Sprintf("Entra's signing certificate %s expires %s and the partner publishes no successor; the partner needs to roll it.", curCert.SHA256, curCert.NotAfter.Format("2006-01-02"))
		p.WatchMoreOften = true
	case rollover:
		p.Outcome = OutcomeRolloverPending
		p.Reason = fmt.Sprintf("The partner publishes a successor certificate %s next to Entra's %s; keep the current one until the partner switches.", p.Successor.SHA256, curCert.SHA256)
		p.WatchMoreOften = true
	default:
		p.Outcome = OutcomeInSync
		p.Reason = fmt.Sprintf("Entra matches the partner's metadata; the signing certificate expires %s.", curCert.NotAfter.Format("2006-01-02"))
	}
	if curCert == nil && curCertErr != "" {
		p.Notes = append(p.Notes, "Entra's current certificate does not decode: "+curCertErr)
	}
	if p.Outcome != OutcomeCertificateExpiring && expiring {
		p.Notes = append(p.Notes, fmt.Sprintf("Entra's signing certificate also expires %s with no successor published.", curCert.NotAfter.Format("2006-01-02")))
	}
	if ambiguous {
		p.Notes = append(p.Notes, "Several certificates in the metadata are valid now; the longest-standing one was chosen and needs a person to confirm it.")
	}

	// Action.
	switch {
	case len(p.Changes) == 0 && (p.Outcome == OutcomeInSync):
		p.Action = ActionNone
	case len(p.Changes) == 0:
		p.Action = ActionNotify
	case issuerChanged:
		// Always a proposal, whatever the policy: a new issuer may be a
		// new partner, which only a person can accept (approving a
		// proposal is still a person's act under "notify").
		p.Action = ActionPropose
	case policy == PolicyNotify:
		p.Action = ActionNotify
	case ambiguous, policy != PolicyAuto:
		p.Action = ActionPropose
	case !obs.Trusted:
		p.Action = ActionPropose
		p.Notes = append(p.Notes, "Not applied automatically: the metadata was neither signature-verified nor fetched over https.")
	default:
		p.Action = ActionApply
	}
	if p.Action == ActionApply || p.Action == ActionPropose {
		p.Patch = &patch
	}
	p.ID = planID(p)
	return p
}

func (p ChangePlan) fail(kind ErrorKind, msg string) ChangePlan {
	p.Outcome = OutcomeMetadataFailure
	p.Action = ActionNotify
	p.FailureKind = kind
	kept := "there is no earlier good metadata"
	if p.LastGoodFetchedAt != nil {
		kept = "the metadata fetched " + p.LastGoodFetchedAt.UTC().Format(time.RFC3339) + " is kept"
	}
	p.Reason = fmt.Sprintf("Metadata refresh failed (%s): %s; %s and Entra is left unchanged.", kind, strings.TrimSuffix(msg, "."), kept)
	p.ID = planID(p)
	return p
}

// currentCertificate decodes Entra's certificate, preferring the bytes over
// the already-decoded summary so the thumbprint is of what Entra holds.
func currentCertificate(f inventory.Federation) (*inventory.Certificate, string) {
	if f.SigningCertificateBase64 != "" {
		c, err := inventory.ParseCertificateBase64(f.SigningCertificateBase64)
		if err != nil {
			return f.SigningCertificate, err.Error()
		}
		return c, ""
	}
	return f.SigningCertificate, f.CertificateError
}

// roleEndpoints lists the endpoints Entra may use for a role and the one to
// set when Entra's is not among them.
func roleEndpoints(r *Role, protocol string) (all []string, preferred string) {
	if protocol == ProtocolWSFed {
		if len(r.PassiveRequestorEndpoints) > 0 {
			preferred = r.PassiveRequestorEndpoints[0]
		}
		return r.PassiveRequestorEndpoints, preferred
	}
	for _, ep := range r.SingleSignOnServices {
		if ep.Binding == BindingHTTPRedirect || ep.Binding == BindingHTTPPOST {
			all = append(all, ep.Location)
		}
	}
	return all, r.SSOEndpoint()
}

// successor is the certificate next to cur that outlives it the longest.
func successor(certs []SigningCertificate, cur *inventory.Certificate) *SigningCertificate {
	var best *SigningCertificate
	for i := range certs {
		c := &certs[i]
		if c.SHA256 == cur.SHA256 || !c.NotAfter.After(cur.NotAfter) {
			continue
		}
		if best == nil || c.NotAfter.After(best.NotAfter) {
			best = c
		}
	}
	return best
}

// validCertificates are the certificates valid at now, longest-standing
// (earliest notBefore) first.
func validCertificates(certs []SigningCertificate, now time.Time) []SigningCertificate {
	var out []SigningCertificate
	for _, c := range certs {
		if !now.Before(c.NotBefore) && now.Before(c.NotAfter) {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b SigningCertificate) int { return a.NotBefore.Compare(b.NotBefore) })
	return out
}

func thumb(c *inventory.Certificate) string {
	if c == nil {
		return ""
	}
	return c.SHA256
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// planID hashes the partner, the outcome and the changes. Patch values are
// covered through the changes (certificates by thumbprint).
func planID(p ChangePlan) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n", strings.ToLower(p.PartnerID), p.Outcome, p.FailureKind)
	for _, c := range p.Changes {
		fmt.Fprintf(h, "%s\x00%s\x00%s\n", c.Field, c.From, c.To)
	}
	return "mdplan-" + hex.EncodeToString(h.Sum(nil))[:16]
}
