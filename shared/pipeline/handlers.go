package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/repair/staged"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

// Job outcomes recorded in the ledger.
const (
	OutcomeNoticeQueued  = "notice-queued"
	OutcomeNotified      = "notified"
	OutcomeNothingToDo   = "nothing-to-do"
	OutcomeResolved      = "resolved"
	OutcomePlanned       = "planned"
	OutcomeUnknownTarget = "unknown-dependency"
	// OutcomeResolvedEvent: a resolve-secret job found the dependencies an
	// event's secret backs and queued their rotation jobs.
	OutcomeResolvedEvent = "resolved-event"
)

// RefreshMetadata refreshes one partner's metadata, keeps it as the last good
// copy when it verifies, plans the change to Entra, and tells the owner what
// the plan needs. It changes nothing in Entra: applying a plan is the repair
// step's job.
func (p *Pipeline) RefreshMetadata(ctx context.Context, d jobs.Delivery) error {
	res, t, err := p.current(ctx)
	if err != nil {
		return err // the tenant could not be read: retry
	}
	kind, id, _ := inventory.ParseRef(d.Job.Dependency)
	if kind != inventory.KindFederation {
		return jobs.Permanent(fmt.Errorf("refresh-metadata needs a federation dependency, not %q", d.Job.Dependency))
	}
	fed, err := scan.FindFederation(res.Inventory, id)
	if err != nil {
		// The partner was removed since the job was queued.
		return p.record(ctx, dependencyLedgerID(d.Job.Dependency), d, OutcomeUnknownTarget, err.Error())
	}
	pp, err := t.PlanPartner(ctx, p.Config, *fed, scan.MetadataOptions{Store: p.Metadata}, p.evaluationTime(t))
	if err != nil {
		if strings.Contains(err.Error(), "no metadata URL") {
			return p.record(ctx, dependencyLedgerID(d.Job.Dependency), d, OutcomeNothingToDo, err.Error())
		}
		return err
	}
	plan := pp.Plan
	if p.Ledger != nil && plan.Outcome != metadata.OutcomeMetadataFailure && plan.CurrentCertificate != nil {
		ref := "metadata/" + fed.ID + "@" + plan.ID
		if _, err := p.Ledger.SetLastGoodMetadata(ctx, dependencyLedgerID(d.Job.Dependency), ref); err != nil {
			return err
		}
	}
	if plan.WatchMoreOften || plan.Outcome == metadata.OutcomeMetadataFailure {
		// A rollover in progress or failing metadata is checked again
		// tomorrow rather than at the next daily scan's leisure; the
		// follow-up's message ID carries its date, so it is queued once.
		if err := p.scheduleRecheck(ctx, d, 24*time.Hour); err != nil {
			return err
		}
	}
	if p.Repair != nil && (plan.Action == metadata.ActionApply || plan.Action == metadata.ActionPropose) {
		r, err := repair.ApplyFederationPlan(ctx, *p.Repair, plan, metadata.Policy(p.Config.Policy(pp.Dependency)))
		if err != nil && !errors.Is(err, repair.ErrReadBackMismatch) {
			return access.Classify(err, repairNeed("IdentityProvider.ReadWrite.All"))
		}
		if err := p.tell(ctx, d, d.Job.Dependency, fed.DisplayName, r); err != nil {
			return err
		}
		if err != nil {
			// The write did not show: the owner is told, the job parked
			// with the reason rather than writing again.
			return jobs.Permanent(err)
		}
	}
	findings := scan.PlanFindings([]scan.PartnerPlan{pp}, p.Config, res.Inventory, p.evaluationTime(t))
	if len(findings) == 0 {
		return p.record(ctx, dependencyLedgerID(d.Job.Dependency), d, OutcomeNothingToDo, string(plan.Outcome)+": "+plan.Reason)
	}
	// The plan exists only here, so its notices are sent here rather than
	// through a notify job that would have to re-fetch the metadata.
	for _, f := range findings {
		if err := p.notify(ctx, f, d); err != nil {
			return err
		}
	}
	return nil
}

// RotateCredential reacts to a credential event or finding. In this release
// it plans and notifies: the owner is told what to rotate and by when; a new
// secret version is noted as ready for the repair step, which applies it.
func (p *Pipeline) RotateCredential(ctx context.Context, d jobs.Delivery) error {
	res, _, err := p.current(ctx)
	if err != nil {
		return err
	}
	ref := d.Job.Dependency
	if strings.HasSuffix(d.Job.Reason, "NewVersionCreated") || d.Job.Reason == ReasonScanNewVersion {
		return p.applyNewVersion(ctx, d, res)
	}
	if conn := basicConnector(res, ref); conn != nil && p.Repair != nil {
		return p.stagedRotation(ctx, d, res, *conn)
	}
	var related []assess.Finding
	for _, f := range res.Findings {
		if inventory.SameRef(f.Dependency.Ref, ref) {
			related = append(related, f)
		}
	}
	if len(related) == 0 {
		return p.record(ctx, dependencyLedgerID(ref), d, OutcomeNothingToDo,
			"no finding for "+ref+" now (already rotated, or not a dependency IdP Keeper knows)")
	}
	var queued []jobs.Job
	now := p.now()
	days := p.Config.Defaults.EscalationDays
	for _, f := range related {
		stage, ok := noticeStage(f, now, days)
		if !ok {
			continue
		}
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindNotifyOwner, Dependency: f.Dependency.Ref,
			Reason: d.Job.Reason, FindingID: f.ID, Stage: stage, Source: d.MessageID, CreatedAt: now,
		})
	}
	if len(queued) > 0 && p.Sender != nil {
		if err := p.Sender.Send(ctx, queued...); err != nil {
			return err
		}
	}
	for _, f := range related {
		if err := p.record(ctx, f.ID, d, OutcomeNoticeQueued, fmt.Sprintf("%d notice job(s) for %s", len(queued), ref)); err != nil {
			return err
		}
	}
	return nil
}

// NotifyOwner sends the notice due for one finding, judged on a fresh scan:
// a finding that has been resolved since the job was queued gets no notice.
func (p *Pipeline) NotifyOwner(ctx context.Context, d jobs.Delivery) error {
	if d.Job.FindingID == "" {
		return jobs.Permanent(errors.New("notify-owner job without findingId"))
	}
	res, _, err := p.current(ctx)
	if err != nil {
		return err
	}
	for _, f := range res.Findings {
		if f.ID == d.Job.FindingID {
			return p.notify(ctx, f, d)
		}
	}
	return p.record(ctx, d.Job.FindingID, d, OutcomeResolved, "the finding is no longer reported; no notice sent")
}

func (p *Pipeline) notify(ctx context.Context, f assess.Finding, d jobs.Delivery) error {
	if p.Notifier == nil {
		return p.record(ctx, f.ID, d, OutcomeNothingToDo, "no notice channel configured")
	}
	r, err := p.Notifier.Notify(ctx, f, d.MessageID)
	if err != nil {
		return err // a channel failed: retry sends only what is missing
	}
	p.log().Info("notice", "finding", f.ID, "kind", f.Kind, "stage", r.Stage, "status", r.Status)
	if until := r.InFlightUntil(); until != nil {
		// Another handler holds the claim: it is sending now, or it died.
		// Look again just after its lease: the notice is then sent, or the
		// claim is taken over (ledger.ClaimNotice) — a lost notice waits
		// minutes for its recovery, not until the next scan.
		if err := p.scheduleRecheck(ctx, d, time.Until(*until)+time.Minute); err != nil {
			return err
		}
	}
	// What was sent, where and when is in the entry's notices; the job's
	// outcome names only the stage, so a redelivery (which finds the stage
	// already sent) leaves the entry exactly as the first delivery did.
	reason := "stage " + r.Stage
	if r.Stage == "" {
		reason = "no notice due (" + r.Status + ")"
	}
	return p.record(ctx, f.ID, d, OutcomeNotified, reason)
}

// scheduleRecheck queues the same job again for later (Service Bus
// ScheduledEnqueueTime). A follow-up does not schedule another follow-up:
// the next day's scan takes over from there.
func (p *Pipeline) scheduleRecheck(ctx context.Context, d jobs.Delivery, after time.Duration) error {
	if d.Job.NotBefore != nil || p.Sender == nil {
		return nil
	}
	at := p.now().Add(after)
	next := d.Job
	next.Reason = "recheck"
	next.NotBefore = &at
	next.Source = d.MessageID
	return p.Sender.Send(ctx, next)
}

// applyNewVersion hands a new secret or certificate version to the repair
// step: a social identity provider's client secret, or an API connector's
// client certificate. Without repair configured it only records the plan.
func (p *Pipeline) applyNewVersion(ctx context.Context, d jobs.Delivery, res *scan.Result) error {
	ref := d.Job.Dependency
	if d.Job.Secret == nil {
		return jobs.Permanent(fmt.Errorf("%s job for %s names no secret version", d.Job.Reason, ref))
	}
	secret := repair.SecretRef{Vault: d.Job.Secret.Vault, Name: d.Job.Secret.Name, Version: d.Job.Secret.Version}
	if p.Repair == nil {
		return p.record(ctx, dependencyLedgerID(ref), d, OutcomePlanned,
			"new version "+secret.Name+"/"+secret.Version+" is ready to apply to "+ref+"; repair is not configured")
	}
	kind, id, _ := inventory.ParseRef(ref)
	var (
		r    repair.Result
		name string
		err  error
	)
	switch kind {
	case inventory.KindSocial:
		var idp *inventory.SocialIdentityProvider
		for i := range res.Inventory.SocialIdentityProviders {
			if inventory.SameID(res.Inventory.SocialIdentityProviders[i].ID, id) {
				idp = &res.Inventory.SocialIdentityProviders[i]
			}
		}
		if idp == nil {
			return p.record(ctx, dependencyLedgerID(ref), d, OutcomeUnknownTarget, "no social identity provider "+id)
		}
		name = idp.DisplayName
		r, err = repair.RotateSocialSecret(ctx, *p.Repair, repair.SocialRequest{
			ProviderID: idp.ID, ProviderType: idp.Type, ClientID: idp.ClientID, Secret: secret,
			FindingID: dependencyLedgerID(ref), MessageID: d.MessageID,
		})
	case inventory.KindConnector:
		var conn *inventory.APIConnector
		for i := range res.Inventory.APIConnectors {
			if inventory.SameID(res.Inventory.APIConnectors[i].ID, id) {
				conn = &res.Inventory.APIConnectors[i]
			}
		}
		if conn == nil {
			return p.record(ctx, dependencyLedgerID(ref), d, OutcomeUnknownTarget, "no API connector "+id)
		}
		name = conn.DisplayName
		if conn.AuthType != inventory.AuthCertificate {
			// A basic-auth password is rotated in stages (pending → probe →
			// cut-over), started by expiry, not by a version someone stored.
			return p.record(ctx, dependencyLedgerID(ref), d, OutcomeNothingToDo,
				"connector "+conn.DisplayName+" uses "+conn.AuthType+" authentication; a new version of "+secret.Name+" is not applied directly")
		}
		r, err = repair.UploadConnectorCertificate(ctx, *p.Repair, repair.ConnectorCertRequest{ConnectorID: conn.ID, Secret: secret})
	default:
		return jobs.Permanent(fmt.Errorf("no repair for a new version backing %s", ref))
	}
	if err != nil && !errors.Is(err, repair.ErrReadBackMismatch) {
		// A 403 (no Key Vault Secrets Officer, no Graph ReadWrite
		// permission) is parked at once with the grant it needs.
		graph := "IdentityProvider.ReadWrite.All"
		if kind == inventory.KindConnector {
			graph = "APIConnectors.ReadWrite.All"
		}
		return access.Classify(err, repairNeed(graph))
	}
	if err := p.record(ctx, dependencyLedgerID(ref), d, r.Outcome, r.Detail); err != nil {
		return err
	}
	if err := p.tell(ctx, d, ref, name, r); err != nil {
		return err
	}
	// A read-back that never showed the write: told, and parked.
	return jobs.Permanent(err)
}

// tell sends a repair's notice (cut-over done, provider rejected the secret,
// proposal waiting for approval) to the dependency's owner, once.
func (p *Pipeline) tell(ctx context.Context, d jobs.Delivery, ref, name string, r repair.Result) error {
	if r.Notice == "" || p.Notifier == nil || r.Outcome == repair.OutcomeDryRun {
		return nil
	}
	kind, id, _ := inventory.ParseRef(ref)
	f := assess.Finding{
		ID:         assess.NewID("repair", ref, r.Plan.ID, r.Outcome),
		Kind:       "repair-" + r.Outcome,
		Severity:   assess.Info,
		Dependency: assess.Dependency{Ref: ref, Kind: kind, ID: id, Name: name},
		Action:     r.Notice,
	}
	if r.Outcome == repair.OutcomeRejectedByProvider || r.Outcome == repair.OutcomeProposed || r.Outcome == repair.OutcomeBlocked {
		f.Severity = assess.Warning
	}
	if dep := p.Config.Dependency(ref); dep != nil {
		if o := p.Config.Owner(dep.Owner); o != nil {
			f.Owner = &assess.Owner{Name: o.Name, Email: o.Email, Organisation: o.Organisation, Internal: o.Internal}
		}
	}
	if f.Owner == nil {
		// Repairs concern the tenant's own configuration: without an owner
		// in the config, the administrators hear about them.
		f.Owner = &assess.Owner{Email: p.Config.FallbackAdmin, Internal: true, Fallback: true}
	}
	_, err := p.Notifier.Tell(ctx, f, r.Outcome, d.MessageID)
	return err
}

// repairNeed is what the repair step needs: Key Vault Secrets Officer and
// the Graph permission of the object it writes, both granted with
// enableRepair.
func repairNeed(graphPermission string) access.Need {
	return access.Need{KeyVault: access.Repair, Graph: graphPermission, GraphFeature: access.Repair}
}

// Job reasons the pipeline itself uses.
const (
	// ReasonStagedRotation marks the scheduled re-checks of a staged rotation.
	ReasonStagedRotation = "staged-rotation"
	// ReasonScanNewVersion: a scan found a secret version newer than the
	// one applied to Entra.
	ReasonScanNewVersion = "scan-new-version"
)

func basicConnector(res *scan.Result, ref string) *inventory.APIConnector {
	kind, id, _ := inventory.ParseRef(ref)
	if kind != inventory.KindConnector {
		return nil
	}
	for i := range res.Inventory.APIConnectors {
		c := &res.Inventory.APIConnectors[i]
		if inventory.SameID(c.ID, id) && c.AuthType == inventory.AuthBasic {
			return c
		}
	}
	return nil
}

// stagedRotation moves a basic-auth connector's password rotation one stage
// on (pending → API accepts → cut-over → promote), tells the API owner what
// the stage needs, and schedules the next check while it is in progress.
func (p *Pipeline) stagedRotation(ctx context.Context, d jobs.Delivery, res *scan.Result, conn inventory.APIConnector) error {
	ref := inventory.Ref(inventory.KindConnector, conn.ID)
	secret := BackingSecret(p.Config, res.Inventory, ref)
	if secret == nil {
		return p.record(ctx, dependencyLedgerID(ref), d, OutcomeNothingToDo,
			"no Key Vault secret backs connector "+conn.DisplayName+" (tag idpkeeper-dependency or config keyVaultSecret): nothing to rotate")
	}
	kv := p.Repair.Vaults[vaultHost(secret.Vault)]
	if kv == nil {
		return jobs.Permanent(fmt.Errorf("vault %s of %s is not configured", secret.Vault, secret.Name))
	}
	prober := p.Prober
	if prober == nil {
		prober = APIProber{}
	}
	r := &staged.Rotator{Graph: p.Repair.Graph, Vault: kv, VaultURL: secret.Vault, Prober: prober,
		Journal: p.Repair.Journal, Mode: p.Repair.Mode, Now: p.Repair.Now,
		Policy: staged.Policy{Length: p.Config.Defaults.PasswordLength, Symbols: p.Config.Defaults.PasswordSymbols}}
	st, err := r.Step(ctx, conn.ID, secret.Name)
	if errors.Is(err, staged.ErrNotBasic) {
		return jobs.Permanent(err)
	}
	if err != nil && !errors.Is(err, repair.ErrReadBackMismatch) {
		return access.Classify(err, repairNeed("APIConnectors.ReadWrite.All"))
	}
	if err := p.record(ctx, dependencyLedgerID(ref), d, st.Stage, strings.Join(st.Wrote, "; ")); err != nil {
		return err
	}
	if err := p.tell(ctx, d, ref, conn.DisplayName, repair.Result{Plan: repair.Plan{ID: st.JournalID}, Outcome: st.Stage, Notice: st.Notice}); err != nil {
		return err
	}
	if err != nil {
		return jobs.Permanent(err)
	}
	if st.Done || st.NextCheck == nil || p.Sender == nil {
		return nil
	}
	next := d.Job
	next.Reason, next.NotBefore, next.Source, next.Secret = ReasonStagedRotation, st.NextCheck, d.MessageID, nil
	return p.Sender.Send(ctx, next)
}

// BackingSecret is the Key Vault secret that backs a dependency: tagged
// idpkeeper-dependency, or named by the config's keyVaultSecret.
func BackingSecret(cfg *config.Config, inv inventory.Inventory, ref string) *inventory.Secret {
	for i := range inv.Secrets {
		if inventory.SameRef(inv.Secrets[i].Tags[inventory.TagDependency], ref) {
			return &inv.Secrets[i]
		}
	}
	if d := cfg.Dependency(ref); d != nil && d.KeyVaultSecret != "" {
		if sr, err := config.ParseSecretRef(d.KeyVaultSecret); err == nil {
			for i := range inv.Secrets {
				if sr.Matches(inv.Secrets[i].Vault, inv.Secrets[i].Name, "") {
					return &inv.Secrets[i]
				}
			}
		}
	}
	return nil
}

func vaultHost(vaultURL string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(strings.ToLower(vaultURL), "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	return h
}

// APIProber checks a password against the API with the API connector
// contract probe: any well-formed answer means the API authenticated the
// call; auth-failed means it did not; anything else is a failure to retry.
type APIProber struct{ Client *http.Client }

// Accepts implements staged.Prober.
func (a APIProber) Accepts(ctx context.Context, url, user, password string) (bool, string, error) {
	r := probe.Probe(ctx, probe.Request{URL: url, Auth: probe.Auth{BasicUser: user, BasicPassword: password}, Client: a.Client})
	switch {
	case r.WellFormed():
		return true, string(r.Outcome), nil
	case r.Outcome == probe.AuthFailed:
		return false, string(r.Outcome), nil
	default:
		return false, string(r.Outcome), fmt.Errorf("the API could not be probed: %s (%s)", r.Outcome, r.Detail)
	}
}
