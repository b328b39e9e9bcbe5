package repair

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"
	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// AppliedTag is the Key Vault tag set on a secret version once Entra uses
// it; its value is the cut-over time (RFC 3339). The newest version that
// carries it is "the applied version".
const AppliedTag = inventory.TagApplied

// SocialRequest asks for a new client secret version to be applied to a
// social identity provider (a RotateCredential job).
type SocialRequest struct {
	// ProviderID is the identityProvider's ID ("Google-OAUTH").
	ProviderID string `json:"providerId"`
	// ProviderType is "Google" or "Facebook"; empty means Entra's value.
	ProviderType string `json:"providerType,omitempty"`
	// ClientID is the client ID the inventory knows; when set it must
	// match Entra's (a mismatch means the secret may belong to another app).
	ClientID string `json:"clientId,omitempty"`
	// Secret is the new version. An empty Version means the newest
	// enabled version (a scan that found a newer version than applied).
	Secret SecretRef `json:"secret"`
	// FindingID and MessageID, when set, record the outcome in the ledger.
	FindingID string `json:"findingId,omitempty"`
	MessageID string `json:"messageId,omitempty"`
}

// SecretVersion is what a flow knows of a version without its value.
type SecretVersion struct {
	Version   string
	Enabled   bool
	Created   time.Time
	NotBefore *time.Time
	Expires   *time.Time
	// ContentType is the secret's content type ("application/x-pkcs12"
	// for a certificate's backing secret).
	ContentType string
	Tags        map[string]string
}

// Applied reports whether Entra was switched to this version.
func (v SecretVersion) Applied() bool { _, ok := v.Tags[AppliedTag]; return ok }

// SocialObservation is everything PlanSocialRotation decides from.
type SocialObservation struct {
	Request SocialRequest
	// ProviderFound is false when Graph has no such identity provider.
	ProviderFound bool
	ProviderType  string // Entra's identityProviderType
	ClientID      string // Entra's clientId
	Versions      []SecretVersion
	// Journal is the entry of an earlier attempt at this plan, if any.
	Journal *Entry
	// HasTester is whether a ProviderTester exists for the type.
	HasTester bool
	Now       time.Time
}

// SocialPlanID is the plan (and journal) ID for applying version of ref to
// providerID.
func SocialPlanID(providerID string, ref SecretRef) string {
	return planID("rot", providerID, vaultHost(ref.Vault), ref.Name, ref.Version)
}

// AppliedVersion is the newest version carrying AppliedTag ("" if none).
func AppliedVersion(versions []SecretVersion) (SecretVersion, bool) {
	var best SecretVersion
	found := false
	for _, v := range versions {
		if v.Applied() && (!found || v.Created.After(best.Created)) {
			best, found = v, true
		}
	}
	return best, found
}

// NewestUsable is the newest enabled, currently valid version.
func NewestUsable(versions []SecretVersion, now time.Time) (SecretVersion, bool) {
	var best SecretVersion
	found := false
	for _, v := range versions {
		if usable(v, now) != "" {
			continue
		}
		if !found || v.Created.After(best.Created) {
			best, found = v, true
		}
	}
	return best, found
}

func usable(v SecretVersion, now time.Time) string {
	switch {
	case !v.Enabled:
		return "is disabled"
	case v.NotBefore != nil && now.Before(*v.NotBefore):
		return "is not valid before " + v.NotBefore.UTC().Format(time.RFC3339)
	case v.Expires != nil && !now.Before(*v.Expires):
		return "expired " + v.Expires.UTC().Format(time.RFC3339)
	}
	return ""
}

// PlanSocialRotation decides whether and how to apply the requested
// version. Pure: no I/O.
func PlanSocialRotation(o SocialObservation) Plan {
	req := o.Request
	ref := req.Secret
	if ref.Version == "" {
		if v, ok := NewestUsable(o.Versions, o.Now); ok {
			ref.Version = v.Version
		}
	}
	p := Plan{
		ID:         SocialPlanID(req.ProviderID, ref),
		Kind:       KindSocialSecret,
		Dependency: "social/" + req.ProviderID,
	}
	idx := slices.IndexFunc(o.Versions, func(v SecretVersion) bool { return ref.Version != "" && strings.EqualFold(v.Version, ref.Version) })
	typ := cmpOr(req.ProviderType, o.ProviderType)
	switch {
	case ref.Version == "":
		p.Blocked = fmt.Sprintf("%s has no enabled, valid version", ref)
		return p
	case idx < 0:
		p.Blocked = fmt.Sprintf("secret version %s does not exist", ref)
		return p
	case !o.ProviderFound:
		p.Blocked = fmt.Sprintf("Entra has no identity provider %s", req.ProviderID)
		return p
	case req.ProviderType != "" && !strings.EqualFold(req.ProviderType, o.ProviderType):
		p.Blocked = fmt.Sprintf("identity provider %s is of type %s in Entra, not %s", req.ProviderID, o.ProviderType, req.ProviderType)
		return p
	case req.ClientID != "" && req.ClientID != o.ClientID:
		p.Blocked = fmt.Sprintf("the inventory's client ID %s differs from Entra's %s; the secret may belong to another app", req.ClientID, o.ClientID)
		return p
	}
	target := o.Versions[idx]
	applied, hasApplied := AppliedVersion(o.Versions)
	finishing := o.Journal != nil && o.Journal.Status != StatusVerified && o.Journal.Status != StatusRejected
	switch {
	case target.Applied() && !finishing:
		p.Done = fmt.Sprintf("version %s is already applied (tagged %s=%s)", ref, AppliedTag, target.Tags[AppliedTag])
		return p
	case hasApplied && !target.Applied() && applied.Created.After(target.Created):
		// A newer version is already in Entra: applying this one would
		// roll the provider back.
		p.Blocked = fmt.Sprintf("a newer version %s is already applied; version %s is superseded", applied.Version, ref.Version)
		return p
	case !finishing && usable(target, o.Now) != "":
		p.Blocked = fmt.Sprintf("version %s %s", ref, usable(target, o.Now))
		return p
	case !o.HasTester:
		p.Blocked = fmt.Sprintf("no provider test is configured for %s; a secret is never applied untested", typ)
		return p
	}
	from := "(unknown: no version is tagged " + AppliedTag + ")"
	if hasApplied {
		from = SecretRef{Vault: ref.Vault, Name: ref.Name, Version: applied.Version}.String()
	}
	target2 := "identityProviders/" + req.ProviderID
	p.Steps = []string{
		fmt.Sprintf("read the value of %s", ref),
		fmt.Sprintf("test it at %s with client ID %s", typ, o.ClientID),
		fmt.Sprintf("PATCH %s clientSecret", target2),
		fmt.Sprintf("read %s back and verify clientId %s and type %s", target2, o.ClientID, o.ProviderType),
		fmt.Sprintf("tag %s %s=<cut-over time>", ref, AppliedTag),
		"journal, then tell the owner to retire the old secret at the provider",
	}
	p.Writes = []PlannedWrite{
		{Target: target2, Field: "clientSecret", From: from, To: ref.String()},
		{Target: ref.String(), Field: "tag " + AppliedTag, To: "<cut-over time>"},
	}
	return p
}

// RotateSocialSecret applies a new client secret version to a social
// identity provider: read, test at the provider, PATCH, read back, tag,
// journal. See the package comment for the dry-run contract and the
// crash-safety notes in the code.
func RotateSocialSecret(ctx context.Context, deps Deps, req SocialRequest) (Result, error) {
	if err := deps.checkApply(); err != nil {
		return Result{}, err
	}
	if deps.Graph == nil {
		return Result{}, errors.New("repair: no Graph client")
	}
	kv, err := deps.vault(req.Secret)
	if err != nil {
		return Result{}, err
	}
	obs := SocialObservation{Request: req, Now: deps.now()}

	// Reads: Entra's provider and the versions' properties (no values).
	idp, found, err := deps.Graph.IdentityProvider(ctx, req.ProviderID)
	if err != nil {
		return Result{}, fmt.Errorf("repair: reading identity provider %s: %w", req.ProviderID, err)
	}
	if social, ok := idp.(models.SocialIdentityProviderable); ok && found {
		obs.ProviderFound = true
		obs.ProviderType = str(social.GetIdentityProviderType())
		obs.ClientID = str(social.GetClientId())
	}
	if obs.Versions, err = listVersions(ctx, kv, req.Secret.Name); err != nil {
		return Result{}, err
	}
	typ := cmpOr(req.ProviderType, obs.ProviderType)
	tester := deps.Providers[typ]
	obs.HasTester = tester != nil

	// The plan ID does not depend on the journal, so plan once to learn the
	// ID, look the journal up, and plan again with it.
	plan := PlanSocialRotation(obs)
	if deps.Journal != nil {
		if e, err := deps.Journal.Get(ctx, plan.ID); err == nil {
			obs.Journal = &e
			plan = PlanSocialRotation(obs)
		} else if !errors.Is(err, statestore.ErrNotFound) {
			return Result{}, err
		}
	}
	res := Result{Plan: plan, Mode: deps.Mode.String(), JournalID: plan.ID}
	switch {
	case plan.Blocked != "":
		res.Outcome, res.Detail = OutcomeBlocked, plan.Blocked
		return res, nil
	case plan.Done != "":
		res.Outcome, res.Detail = OutcomeAlreadyApplied, plan.Done
		return res, nil
	}
	ref := req.Secret
	if ref.Version == "" {
		// The same choice PlanSocialRotation made (it did not block, so
		// a usable version exists).
		v, _ := NewestUsable(obs.Versions, obs.Now)
		ref.Version = v.Version
	}
	if deps.Mode == DryRun {
		// A dry run plans from Entra's provider and the versions'
		// properties only. The value is read only when a write will follow:
		// the provider test needs it, so it runs in apply mode, right
		// before the PATCH it guards. (A dry run therefore needs no more
		// than Key Vault Reader.)
		res.Outcome = OutcomeDryRun
		res.Detail = fmt.Sprintf("would read %s, test it at %s with client ID %s, PATCH identityProviders/%s and tag the version; no secret value was read and nothing was written",
			ref, typ, obs.ClientID, req.ProviderID)
		return res, nil
	}
	var target SecretVersion
	for _, v := range obs.Versions {
		if strings.EqualFold(v.Version, ref.Version) {
			target = v
		}
	}
	applied, hasApplied := AppliedVersion(obs.Versions)
	previous := ""
	if hasApplied {
		previous = SecretRef{Vault: ref.Vault, Name: ref.Name, Version: applied.Version}.String()
	}

	// Crash point: before any write. The entry holds Before so that a
	// re-run knows what was replaced even after Entra changed.
	entry, err := deps.Journal.begin(ctx, plan, map[string]string{"appliedVersion": previous, "clientId": obs.ClientID})
	if err != nil {
		return res, err
	}

	// 1–2. Read the value and test it at the provider, unless an earlier
	// attempt already passed the test (it is skipped then so that the value
	// is not read again for nothing; the PATCH below needs it, though).
	needValue := !entry.Done("patch")
	var value string
	if needValue {
		sec, err := kv.GetSecret(ctx, ref.Name, ref.Version, nil)
		if err != nil {
			return res, fmt.Errorf("repair: reading %s: %w", ref, err)
		}
		value = str(sec.Value)
		if value == "" {
			res.Outcome, res.Detail = OutcomeBlocked, fmt.Sprintf("%s has an empty value", ref)
			return res, nil
		}
	}
	if !entry.Done("provider-test") {
		verdict, err := tester.Test(ctx, obs.ClientID, value)
		if err != nil {
			return res, fmt.Errorf("repair: testing %s at %s: %w", ref, typ, err)
		}
		if !verdict.Accepted {
			res.Outcome = OutcomeRejectedByProvider
			res.Detail = fmt.Sprintf("%s rejected client ID %s with secret %s: %s", typ, obs.ClientID, ref, verdict.Code)
			res.Notice = fmt.Sprintf("The new client secret %s for the %s identity provider %s was NOT applied: %s rejected it (%s). Entra still uses %s. Check the secret issued by %s for client ID %s and store a corrected version in Key Vault.",
				ref, typ, req.ProviderID, typ, verdict.Code, orDash(previous), typ, obs.ClientID)
			if _, err := deps.Journal.step(ctx, plan.ID, "provider-test", StepFailed, verdict.Code); err != nil {
				return res, err
			}
			if _, err := deps.Journal.finish(ctx, plan.ID, StatusRejected, false, nil); err != nil {
				return res, err
			}
			recordLedger(ctx, deps, req, plan, OutcomeRejectedByProvider, verdict.Code)
			return res, nil
		}
		if entry, err = deps.Journal.step(ctx, plan.ID, "provider-test", StepOK, verdict.Code); err != nil {
			return res, err
		}
	}

	// 3. PATCH. Graph never returns clientSecret, so a PATCH whose answer
	// was lost cannot be detected; the re-run sends the same value again,
	// which leaves Entra in the same state.
	if !entry.Done("patch") {
		body := models.NewSocialIdentityProvider()
		body.SetClientSecret(&value)
		if _, err := deps.Graph.Identity().IdentityProviders().ByIdentityProviderBaseId(req.ProviderID).Patch(ctx, body, nil); err != nil {
			return res, fmt.Errorf("repair: identity provider %s: %w", req.ProviderID, tenant.AsGraphError("PATCH", "/identity/identityProviders/"+req.ProviderID, err))
		}
		if entry, err = deps.Journal.step(ctx, plan.ID, "patch", StepOK, "clientSecret := "+ref.String()); err != nil {
			return res, err
		}
	}
	value = "" // not needed any more

	// 4. Read back: the secret is masked, so verify what can be: the
	// provider still exists with the same type and client ID. A replica
	// that has not seen the write yet shows the same, so this rarely
	// waits; it still reads again before declaring a mismatch.
	var gotID, gotType string
	mismatch, attempts, err := VerifyWrite(ctx, deps.ReadBack, deps.Journal, plan.ID, func(ctx context.Context) (string, error) {
		back, found, err := deps.Graph.IdentityProvider(ctx, req.ProviderID)
		if err != nil {
			return "", fmt.Errorf("repair: reading back identity provider %s: %w", req.ProviderID, err)
		}
		gotID, gotType = "", ""
		if social, ok := back.(models.SocialIdentityProviderable); ok && found {
			gotID, gotType = str(social.GetClientId()), str(social.GetIdentityProviderType())
		}
		if gotID != obs.ClientID || gotType != obs.ProviderType {
			return fmt.Sprintf("read-back shows clientId %q type %q, expected %q %q", gotID, gotType, obs.ClientID, obs.ProviderType), nil
		}
		return "", nil
	})
	if err != nil {
		return res, err
	}
	after := map[string]string{"appliedVersion": ref.String(), "clientId": gotID}
	if mismatch != "" {
		detail := fmt.Sprintf("%s (after %d reads)", mismatch, attempts)
		_, _ = deps.Journal.step(ctx, plan.ID, "read-back", StepFailed, detail)
		_, _ = deps.Journal.finish(ctx, plan.ID, StatusFailed, false, after)
		res.Outcome, res.Detail = OutcomeBlocked, detail
		res.Notice = fmt.Sprintf("IdP Keeper set the client secret of the %s identity provider %s to %s, but reading the provider back %d times shows %s. The version is not tagged as applied and nothing more is written automatically; check the provider in Entra.",
			typ, req.ProviderID, ref, attempts, mismatch)
		return res, fmt.Errorf("%w: %s: %s", ErrReadBackMismatch, req.ProviderID, detail)
	}
	if entry, err = deps.Journal.step(ctx, plan.ID, "read-back", StepOK, "clientId and identityProviderType unchanged; clientSecret is write-only"); err != nil {
		return res, err
	}

	// 5. Tag the version with the cut-over time (the PATCH step's time, so
	// a re-run writes the same value). The tag is what later scans and jobs
	// read as "applied"; it is written after the PATCH so that a crash in
	// between leaves an untagged version, which the re-run applies again.
	patchStep, _ := entry.Step("patch")
	cutover := patchStep.At.UTC().Format(time.RFC3339)
	if !target.Applied() {
		tags := map[string]*string{}
		for k, v := range target.Tags {
			tags[k] = ptr(v)
		}
		tags[AppliedTag] = ptr(cutover)
		if _, err := kv.UpdateSecretProperties(ctx, ref.Name, ref.Version, azsecrets.UpdateSecretPropertiesParameters{Tags: tags}, nil); err != nil {
			return res, fmt.Errorf("repair: tagging %s: %w", ref, err)
		}
	}
	if _, err = deps.Journal.step(ctx, plan.ID, "tag", StepOK, AppliedTag+"="+cutover); err != nil {
		return res, err
	}
	recordLedger(ctx, deps, req, plan, OutcomeApplied, "applied "+ref.String())
	if _, err = deps.Journal.finish(ctx, plan.ID, StatusVerified, true, after); err != nil {
		return res, err
	}
	res.Outcome, res.Verified = OutcomeApplied, true
	res.Detail = fmt.Sprintf("Entra's %s uses %s since %s; read-back confirmed client ID %s", req.ProviderID, ref, cutover, gotID)
	res.Notice = fmt.Sprintf("The cut-over is done: since %s Entra's %s identity provider %s uses client secret %s (tested at %s first; client ID %s verified). Sign-ins no longer use the previous secret %s: retire it at %s.",
		cutover, typ, req.ProviderID, ref, typ, gotID, orDash(previous), typ)
	return res, nil
}

func recordLedger(ctx context.Context, deps Deps, req SocialRequest, p Plan, outcome, reason string) {
	if deps.Ledger == nil || req.FindingID == "" {
		return
	}
	// Best effort: the journal and the tag are the record a re-run uses;
	// the ledger is for reports.
	_, _ = deps.Ledger.RecordJob(ctx, req.FindingID, ledger.JobOutcome{
		MessageID: cmpOr(req.MessageID, p.ID), Kind: p.Kind, Outcome: outcome, Reason: reason,
	})
}

func listVersions(ctx context.Context, kv *azsecrets.Client, name string) ([]SecretVersion, error) {
	var out []SecretVersion
	pages := tenant.VaultPages{What: "list versions of " + name}
	pager := kv.NewListSecretPropertiesVersionsPager(name, nil)
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err == nil {
			err = pages.Check(ctx, page.Value == nil, page.NextLink)
		}
		if err != nil {
			return nil, fmt.Errorf("repair: listing versions of %s: %w", name, err)
		}
		for _, p := range page.Value {
			if p == nil || p.ID == nil {
				continue
			}
			v := SecretVersion{Version: p.ID.Version(), ContentType: str(p.ContentType), Tags: map[string]string{}}
			if a := p.Attributes; a != nil {
				v.Enabled = a.Enabled == nil || *a.Enabled
				if a.Created != nil {
					v.Created = a.Created.UTC()
				}
				v.NotBefore, v.Expires = a.NotBefore, a.Expires
			}
			for k, t := range p.Tags {
				if t != nil {
					v.Tags[k] = *t
				}
			}
			out = append(out, v)
		}
	}
	return out, nil
}

func orDash(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}
