package repair

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/models"

	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// Plan actions for a federation plan.
const (
	ActionApply   = "apply"
	ActionPropose = "propose"
	ActionNotify  = "notify"
)

// federationFields are the Graph fields a metadata plan may change, in the
// order they are shown.
var federationFields = []string{
	metadata.FieldIssuerURI, metadata.FieldPassiveSignInURI,
	metadata.FieldSigningCertificate, metadata.FieldPreferredProtocol,
}

// FederationObservation is what PlanFederation decides from.
type FederationObservation struct {
	Change metadata.ChangePlan
	Policy metadata.Policy
	// Approved is true only when a person approved this plan ID (Approve).
	Approved bool
	Found    bool
	// Current are Entra's values by Graph field name (signingCertificate as
	// base64 DER: a certificate is public).
	Current map[string]string
	Journal *Entry
}

// FederationDecision is PlanFederation's answer.
type FederationDecision struct {
	Plan Plan
	// Action is apply, propose or notify ("" when blocked or done).
	Action string
	// Target are the values to PATCH (only the fields that change).
	Target map[string]string
	// Pending are the fields of Target Entra does not hold yet.
	Pending []string
	// Stale is true when Entra no longer holds the values the plan was
	// made from.
	Stale bool
}

// FederationPlanTarget maps a metadata patch to Graph field values.
func FederationPlanTarget(p *metadata.Patch) map[string]string {
	out := map[string]string{}
	if p == nil {
		return out
	}
	for f, v := range map[string]string{
		metadata.FieldIssuerURI:          p.IssuerURI,
		metadata.FieldPassiveSignInURI:   p.PassiveSignInURI,
		metadata.FieldSigningCertificate: p.SigningCertificate,
		metadata.FieldPreferredProtocol:  p.PreferredProtocol,
	} {
		if v != "" {
			out[f] = v
		}
	}
	return out
}

// PlanFederation decides what to do with a metadata change plan. Pure.
//
// Issuer changes are applied only when Approved; certificate, endpoint and
// protocol changes are applied automatically only under PolicyAuto when
// the metadata engine said ActionApply. Domains are never touched: the
// patch has no domain field. A plan whose From values no longer match
// Entra is stale and blocked.
func PlanFederation(o FederationObservation) FederationDecision {
	c := o.Change
	d := FederationDecision{Plan: Plan{ID: c.ID, Kind: KindFederationApply, Dependency: "federation/" + c.PartnerID}}
	d.Target = FederationPlanTarget(c.Patch)
	if c.Patch == nil || len(d.Target) == 0 || c.Action == metadata.ActionNone || c.Action == metadata.ActionNotify {
		d.Action = ActionNotify
		return d
	}
	if !o.Found {
		d.Plan.Blocked = fmt.Sprintf("Entra has no federation %s", c.PartnerID)
		return d
	}
	from := map[string]string{}
	for _, ch := range c.Changes {
		from[ch.Field] = ch.From
	}
	var stale []string
	for _, f := range federationFields {
		to, ok := d.Target[f]
		if !ok {
			continue
		}
		cur := o.Current[f]
		switch {
		case sameValue(f, cur, to):
		case fromMatches(f, cur, from[f]):
			d.Pending = append(d.Pending, f)
		default:
			stale = append(stale, fmt.Sprintf("%s is %q, the plan expected %q", f, shown(f, cur), from[f]))
		}
		d.Plan.Writes = append(d.Plan.Writes, PlannedWrite{
			Target: "federationConfigurations/" + c.PartnerID, Field: f, From: shown(f, cur), To: shown(f, to),
		})
	}
	finishing := o.Journal != nil && (o.Journal.Status == StatusApplying || o.Journal.Status == StatusApplied)
	switch {
	case o.Journal != nil && o.Journal.Status == StatusUndone:
		// A person undid this very change; the metadata engine finding it
		// again must not re-apply it behind their back.
		d.Plan.Blocked = fmt.Sprintf("plan %s was undone by %s; it is not applied again", c.ID, o.Journal.UndoneBy)
		return d
	case len(stale) > 0:
		d.Stale = true
		d.Plan.Blocked = "Entra changed since the plan was made: " + strings.Join(stale, "; ")
		return d
	case len(d.Pending) == 0 && !finishing:
		d.Plan.Done = "Entra already holds the planned values"
		return d
	}
	_, issuer := d.Target[metadata.FieldIssuerURI]
	switch {
	case o.Approved:
		d.Action = ActionApply
	case issuer:
		d.Action = ActionPropose // never automatic, whatever the policy
	case o.Policy == metadata.PolicyAuto && c.Action == metadata.ActionApply:
		d.Action = ActionApply
	default:
		d.Action = ActionPropose
	}
	if d.Action == ActionPropose {
		d.Plan.Steps = []string{"write proposal " + ProposalDocument(c.ID), "wait for: approve " + c.ID}
		return d
	}
	d.Plan.Steps = []string{
		"journal the current values of " + strings.Join(sortedKeys(d.Target), ", "),
		"PATCH federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + c.PartnerID,
		"read it back through the list and compare every patched field (again, with backoff, while replication lags)",
		"journal the result (undo " + c.ID + " restores the previous values)",
	}
	return d
}

// Proposal is a federation change waiting for a person.
type Proposal struct {
	PlanID       string              `json:"planId"`
	FederationID string              `json:"federationId"`
	Change       metadata.ChangePlan `json:"change"`
	Policy       metadata.Policy     `json:"policy"`
	ProposedAt   time.Time           `json:"proposedAt"`
	Status       string              `json:"status"` // pending | applied | refused
	ApprovedBy   string              `json:"approvedBy,omitempty"`
	ApprovedAt   *time.Time          `json:"approvedAt,omitempty"`
	Detail       string              `json:"detail,omitempty"`
}

// ProposalDocument is where the proposal of planID is stored.
func ProposalDocument(planID string) string { return "proposals/" + planID + ".json" }

// ApplyFederationPlan carries out a metadata plan under the partner's
// policy: apply (auto), write a proposal (propose, or any issuer change),
// or nothing (notify).
func ApplyFederationPlan(ctx context.Context, deps Deps, change metadata.ChangePlan, policy metadata.Policy) (Result, error) {
	res, _, err := applyFederation(ctx, deps, change, policy, "")
	return res, err
}

// Approve applies a proposal a person approved (CLI `approve PLAN-ID`, or
// the HTTP door). It re-reads Entra and refuses with ErrStale when Entra
// changed since the proposal.
func Approve(ctx context.Context, deps Deps, planID, by string) (Result, error) {
	if deps.Journal == nil {
		return Result{}, ErrNoJournal
	}
	if by == "" {
		return Result{}, errors.New("repair: an approval needs who approved")
	}
	prop, etag, err := readProposal(ctx, deps.Journal.Store, planID)
	if err != nil {
		return Result{}, err
	}
	res, stale, err := applyFederation(ctx, deps, prop.Change, prop.Policy, by)
	if err != nil || deps.Mode == DryRun {
		return res, err
	}
	now := deps.now()
	switch res.Outcome {
	case OutcomeApplied, OutcomeAlreadyApplied:
		prop.Status, prop.ApprovedBy, prop.ApprovedAt = "applied", by, &now
	case OutcomeBlocked:
		prop.Status, prop.Detail = "refused", res.Detail
	default:
		return res, nil
	}
	data, _ := json.MarshalIndent(prop, "", "  ")
	// A conflict means another approver got there; the change itself is
	// journaled either way.
	if _, err := deps.Journal.Store.Put(ctx, ProposalDocument(planID), data, statestore.Condition{IfMatch: etag}); err != nil && !errors.Is(err, statestore.ErrConflict) {
		return res, err
	}
	if stale {
		return res, fmt.Errorf("%w: %s", ErrStale, res.Detail)
	}
	return res, nil
}

// ErrMalformedProposal: the stored proposal is not one IdP Keeper wrote for
// that plan ID; nothing is applied from it.
var ErrMalformedProposal = errors.New("repair: malformed proposal")

func readProposal(ctx context.Context, store statestore.Store, planID string) (Proposal, string, error) {
	if err := CheckID(planID); err != nil {
		return Proposal{}, "", err
	}
	data, etag, err := store.Get(ctx, ProposalDocument(planID))
	if errors.Is(err, statestore.ErrNotFound) {
		return Proposal{}, "", fmt.Errorf("repair: no proposal %s: %w", planID, err)
	}
	if err != nil {
		return Proposal{}, "", err
	}
	var p Proposal
	if err := json.Unmarshal(data, &p); err != nil {
		return Proposal{}, "", fmt.Errorf("%w: %s: %v", ErrMalformedProposal, ProposalDocument(planID), err)
	}
	if err := p.check(planID); err != nil {
		return Proposal{}, "", fmt.Errorf("%w: %s: %v", ErrMalformedProposal, ProposalDocument(planID), err)
	}
	return p, etag, nil
}

// check says whether a stored proposal is whole: its plan, the partner and
// the change to write, under the plan ID it is filed as.
func (p Proposal) check(planID string) error {
	switch {
	case p.PlanID != planID:
		return fmt.Errorf("planId %q, filed as %q", p.PlanID, planID)
	case p.Change.ID != planID:
		return fmt.Errorf("change.id %q, want %q", p.Change.ID, planID)
	case p.FederationID == "" || p.Change.PartnerID != p.FederationID:
		return fmt.Errorf("federationId %q and change.partnerId %q do not name one partner", p.FederationID, p.Change.PartnerID)
	case p.Change.Patch == nil:
		return errors.New("the change has no patch to write")
	case p.Change.Action != metadata.ActionApply && p.Change.Action != metadata.ActionPropose:
		return fmt.Errorf("the change's action %q is not one to approve", p.Change.Action)
	}
	return nil
}

func applyFederation(ctx context.Context, deps Deps, change metadata.ChangePlan, policy metadata.Policy, approvedBy string) (res Result, stale bool, err error) {
	if err := deps.checkApply(); err != nil {
		return Result{}, false, err
	}
	obs := FederationObservation{Change: change, Policy: policy, Approved: approvedBy != ""}
	res = Result{Mode: deps.Mode.String(), JournalID: change.ID}
	if change.Patch != nil && change.Action != metadata.ActionNone && change.Action != metadata.ActionNotify {
		cur, found, err := readFederation(ctx, deps, change.PartnerID)
		if err != nil {
			return res, false, err
		}
		obs.Current, obs.Found = cur, found
		if deps.Journal != nil {
			if e, err := deps.Journal.Get(ctx, change.ID); err == nil {
				obs.Journal = &e
			} else if !errors.Is(err, statestore.ErrNotFound) {
				return res, false, err
			}
		}
	}
	d := PlanFederation(obs)
	res.Plan = d.Plan
	switch {
	case d.Plan.Blocked != "":
		res.Outcome, res.Detail = OutcomeBlocked, d.Plan.Blocked
		return res, d.Stale, nil
	case d.Plan.Done != "":
		res.Outcome, res.Detail = OutcomeAlreadyApplied, d.Plan.Done
		return res, false, nil
	case d.Action == ActionNotify:
		res.Outcome, res.Detail, res.JournalID = OutcomeNotifyOnly, change.Reason, ""
		return res, false, nil
	case d.Action == ActionPropose:
		res.Outcome, res.JournalID = OutcomeProposed, ""
		res.Detail = fmt.Sprintf("proposal %s waits for approval", change.ID)
		res.Notice = fmt.Sprintf("Proposed change to the federation with %s: %s Changes: %s. Nothing was changed. To apply it: idpkeeper approve %s (or the approve link).",
			change.PartnerID, change.Reason, describeWrites(d.Plan.Writes), change.ID)
		if deps.Mode == DryRun {
			res.Outcome, res.Detail = OutcomeDryRun, "would propose "+change.ID+"; nothing was written"
			return res, false, nil
		}
		prop := Proposal{PlanID: change.ID, FederationID: change.PartnerID, Change: change, Policy: policy, ProposedAt: deps.now(), Status: "pending"}
		data, _ := json.MarshalIndent(prop, "", "  ")
		// Create-only: proposing the same plan again keeps the first
		// proposal (and its date) instead of re-opening an applied one.
		if _, err := deps.Journal.Store.Put(ctx, ProposalDocument(change.ID), data, statestore.Condition{IfNoneMatch: true}); err != nil && !errors.Is(err, statestore.ErrConflict) {
			return res, false, err
		}
		return res, false, nil
	case deps.Mode == DryRun:
		res.Outcome, res.Detail = OutcomeDryRun, "would PATCH "+strings.Join(d.Pending, ", ")+"; nothing was written"
		return res, false, nil
	}

	before := map[string]string{}
	for f := range d.Target {
		before[f] = obs.Current[f]
	}
	if approvedBy != "" {
		before["approvedBy"] = approvedBy
	}
	if _, err := deps.Journal.begin(ctx, d.Plan, before); err != nil {
		return res, false, err
	}
	// PATCH only fields Entra does not hold yet: after a crash between the
	// PATCH and the journal, Entra already holds them and nothing is sent.
	if len(d.Pending) > 0 {
		vals := map[string]string{}
		for _, f := range d.Pending {
			vals[f] = d.Target[f]
		}
		if err := patchFederation(ctx, deps, change.PartnerID, vals); err != nil {
			return res, false, err
		}
	}
	if _, err := deps.Journal.step(ctx, change.ID, "patch", StepOK, strings.Join(sortedKeys(d.Target), ",")); err != nil {
		return res, false, err
	}
	after, mismatch, attempts, err := verifyFederation(ctx, deps, change.ID, change.PartnerID, d.Target)
	if err != nil {
		return res, false, err
	}
	if mismatch != "" {
		detail := fmt.Sprintf("%s after %d reads", mismatch, attempts)
		_, _ = deps.Journal.step(ctx, change.ID, "read-back", StepFailed, detail)
		_, _ = deps.Journal.finish(ctx, change.ID, StatusFailed, false, after)
		res.Outcome, res.Detail = OutcomeBlocked, "read-back: "+detail
		res.Notice = fmt.Sprintf("IdP Keeper changed the federation with %s (%s), but reading it back %d times still shows: %s. The change may not have taken; nothing more is written automatically. Check the partner in Entra; idpkeeper undo %s restores the previous values.",
			change.PartnerID, describeWrites(d.Plan.Writes), attempts, mismatch, change.ID)
		return res, false, fmt.Errorf("%w: federation %s: %s", ErrReadBackMismatch, change.PartnerID, detail)
	}
	if _, err := deps.Journal.step(ctx, change.ID, "read-back", StepOK, "every patched field matches"); err != nil {
		return res, false, err
	}
	if _, err := deps.Journal.finish(ctx, change.ID, StatusVerified, true, after); err != nil {
		return res, false, err
	}
	res.Outcome, res.Verified = OutcomeApplied, true
	res.Detail = "applied and verified: " + describeWrites(d.Plan.Writes)
	how := "automatically (policy auto)"
	if approvedBy != "" {
		how = "as approved by " + approvedBy
	}
	res.Notice = fmt.Sprintf("IdP Keeper updated the federation with %s %s: %s. %s Read-back verified. To restore the previous values: idpkeeper undo %s.",
		change.PartnerID, how, describeWrites(d.Plan.Writes), change.Reason, change.ID)
	return res, false, nil
}

// Undo restores the values a federation change replaced. It refuses with
// ErrStale when Entra no longer holds what the change wrote (someone
// changed it since), and is a no-op on an entry already undone.
func Undo(ctx context.Context, deps Deps, journalID, by string) (Result, error) {
	if deps.Journal == nil {
		return Result{}, ErrNoJournal
	}
	if by == "" {
		return Result{}, errors.New("repair: an undo needs who asked for it")
	}
	e, err := deps.Journal.Get(ctx, journalID)
	if err != nil {
		return Result{}, fmt.Errorf("repair: journal %s: %w", journalID, err)
	}
	fedID, ok := strings.CutPrefix(e.Dependency, "federation/")
	plan := Plan{ID: "undo-" + journalID, Kind: KindFederationUndo, Dependency: e.Dependency}
	res := Result{Plan: plan, Mode: deps.Mode.String(), JournalID: journalID}
	switch {
	case e.Kind != KindFederationApply || !ok:
		return res, fmt.Errorf("repair: journal %s is a %s, which undo does not restore", journalID, e.Kind)
	case e.Status == StatusUndone:
		res.Outcome, res.Detail = OutcomeUndone, fmt.Sprintf("already undone by %s", e.UndoneBy)
		return res, nil
	case e.Status == StatusApplying:
		return res, fmt.Errorf("repair: journal %s is still applying; let the job finish before undoing it", journalID)
	}
	target := map[string]string{}
	var unrestorable []string
	for _, f := range federationFields {
		v, ok := e.Before[f]
		switch {
		case ok && v != "":
			target[f] = v
		case ok:
			// Graph cannot PATCH a property back to "unset" (an empty
			// protocol is not a value): say so instead of pretending.
			unrestorable = append(unrestorable, f)
		}
	}
	cur, found, err := readFederation(ctx, deps, fedID)
	if err != nil {
		return res, err
	}
	if !found {
		return res, fmt.Errorf("repair: federation %s no longer exists", fedID)
	}
	var pending, stale []string
	for _, f := range federationFields {
		to, ok := target[f]
		if !ok {
			continue
		}
		switch c := cur[f]; {
		case sameValue(f, c, to):
		case sameValue(f, c, e.After[f]):
			pending = append(pending, f)
		default:
			stale = append(stale, fmt.Sprintf("%s is now %q, not the %q the change wrote", f, shown(f, c), shown(f, e.After[f])))
		}
		res.Plan.Writes = append(res.Plan.Writes, PlannedWrite{Target: "federationConfigurations/" + fedID, Field: f, From: shown(f, cur[f]), To: shown(f, to)})
	}
	if len(stale) > 0 {
		res.Outcome = OutcomeBlocked
		res.Detail = "Entra changed since the change was made: " + strings.Join(stale, "; ")
		return res, fmt.Errorf("%w: %s", ErrStale, res.Detail)
	}
	res.Plan.Steps = []string{"PATCH federationConfigurations/graph.samlOrWsFedExternalDomainFederation/" + fedID + " back to the journaled values", "read back through the list and compare", "mark " + journalID + " undone"}
	if deps.Mode == DryRun {
		res.Outcome, res.Detail = OutcomeDryRun, "would restore "+strings.Join(pending, ", ")+"; nothing was written"
		return res, nil
	}
	if len(pending) > 0 {
		vals := map[string]string{}
		for _, f := range pending {
			vals[f] = target[f]
		}
		if err := patchFederation(ctx, deps, fedID, vals); err != nil {
			return res, err
		}
	}
	if _, err := deps.Journal.step(ctx, journalID, "undo-patch", StepOK, "by "+by); err != nil {
		return res, err
	}
	_, mismatch, attempts, err := verifyFederation(ctx, deps, journalID, fedID, target)
	if err != nil {
		return res, err
	}
	if mismatch != "" {
		detail := fmt.Sprintf("%s after %d reads", mismatch, attempts)
		_, _ = deps.Journal.step(ctx, journalID, "undo-read-back", StepFailed, detail)
		res.Outcome, res.Detail = OutcomeBlocked, "undo read-back: "+detail
		res.Notice = fmt.Sprintf("%s asked to undo change %s to the federation with %s, but reading it back %d times still shows: %s. Check the partner in Entra.", by, journalID, fedID, attempts, mismatch)
		return res, fmt.Errorf("%w: undo of %s: %s", ErrReadBackMismatch, journalID, detail)
	}
	now := deps.now()
	if _, err := deps.Journal.step(ctx, journalID, "undo-read-back", StepOK, "previous values restored"); err != nil {
		return res, err
	}
	if _, err := deps.Journal.Update(ctx, journalID, func(e *Entry) error {
		if e.Status != StatusUndone {
			e.Status, e.UndoneBy, e.UndoneAt = StatusUndone, by, &now
		}
		return nil
	}); err != nil {
		return res, err
	}
	res.Outcome, res.Verified = OutcomeUndone, true
	res.Detail = "restored and verified: " + describeWrites(res.Plan.Writes)
	if len(unrestorable) > 0 {
		res.Detail += "; left as they are (they had no previous value): " + strings.Join(unrestorable, ", ")
	}
	res.Notice = fmt.Sprintf("%s undid change %s to the federation with %s: %s. Read-back verified.", by, journalID, fedID, describeWrites(res.Plan.Writes))
	return res, nil
}

// readFederation reads a partner's current values through the documented
// list (Graph documents no GET of one partner by ID).
func readFederation(ctx context.Context, deps Deps, id string) (map[string]string, bool, error) {
	f, found, err := deps.Graph.FederationByID(ctx, id)
	if err != nil {
		return nil, false, fmt.Errorf("repair: reading federation %s: %w", id, err)
	}
	if !found {
		return nil, false, nil
	}
	out := map[string]string{
		metadata.FieldIssuerURI:          str(f.GetIssuerUri()),
		metadata.FieldPassiveSignInURI:   str(f.GetPassiveSignInUri()),
		metadata.FieldSigningCertificate: str(f.GetSigningCertificate()),
		metadata.FieldPreferredProtocol:  "",
	}
	if p := f.GetPreferredAuthenticationProtocol(); p != nil {
		out[metadata.FieldPreferredProtocol] = p.String()
	}
	return out, true, nil
}

// patchFederation writes vals at the cast path
// (samlorwsfedexternaldomainfederation-update.md).
func patchFederation(ctx context.Context, deps Deps, id string, vals map[string]string) error {
	body := models.NewSamlOrWsFedExternalDomainFederation()
	for f, v := range vals {
		switch f {
		case metadata.FieldIssuerURI:
			body.SetIssuerUri(ptr(v))
		case metadata.FieldPassiveSignInURI:
			body.SetPassiveSignInUri(ptr(v))
		case metadata.FieldSigningCertificate:
			body.SetSigningCertificate(ptr(v))
		case metadata.FieldPreferredProtocol:
			p, _ := models.ParseAuthenticationProtocol(v)
			proto, ok := p.(*models.AuthenticationProtocol)
			if !ok {
				return fmt.Errorf("repair: unknown protocol %q", v)
			}
			body.SetPreferredAuthenticationProtocol(proto)
		}
	}
	if _, err := deps.Graph.PatchFederation(ctx, id, body); err != nil {
		return fmt.Errorf("repair: federation %s: %w", id, err)
	}
	return nil
}

// verifyFederation reads the federation back, again with backoff while it
// still shows other values (replication lag), and returns what it finally
// shows of want's fields and the mismatch ("" when it matches).
func verifyFederation(ctx context.Context, deps Deps, journalID, id string, want map[string]string) (after map[string]string, mismatch string, attempts int, err error) {
	mismatch, attempts, err = VerifyWrite(ctx, deps.ReadBack, deps.Journal, journalID, func(ctx context.Context) (string, error) {
		got, found, err := readFederation(ctx, deps, id)
		if err != nil {
			return "", err
		}
		if !found {
			after = nil
			return "the federation is gone", nil
		}
		after = map[string]string{}
		var diffs []string
		for _, f := range sortedKeys(want) {
			after[f] = got[f]
			if !sameValue(f, got[f], want[f]) {
				diffs = append(diffs, fmt.Sprintf("%s is %q, not %q", f, shown(f, got[f]), shown(f, want[f])))
			}
		}
		return strings.Join(diffs, "; "), nil
	})
	return after, mismatch, attempts, err
}

// sameValue compares field values; certificates by their DER bytes so that
// line breaks or padding in the base64 do not count as a change.
func sameValue(field, a, b string) bool {
	if field == metadata.FieldSigningCertificate {
		return certSHA256(a) == certSHA256(b)
	}
	return a == b
}

// fromMatches compares Entra's value with a Change.From, which shows a
// certificate by SHA-256 thumbprint.
func fromMatches(field, cur, from string) bool {
	if field == metadata.FieldSigningCertificate {
		return strings.EqualFold(certSHA256(cur), from)
	}
	return cur == from
}

func certSHA256(b64 string) string {
	if b64 == "" {
		return ""
	}
	der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
	if err != nil {
		return "undecodable:" + b64
	}
	sum := sha256.Sum256(der)
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// shown is a value as plans and notices show it: certificates by SHA-256.
func shown(field, v string) string {
	if field == metadata.FieldSigningCertificate && v != "" {
		return "sha256:" + certSHA256(v)
	}
	return v
}

func describeWrites(ws []PlannedWrite) string {
	parts := make([]string, 0, len(ws))
	for _, w := range ws {
		parts = append(parts, fmt.Sprintf("%s %q → %q", w.Field, w.From, w.To))
	}
	return strings.Join(parts, "; ")
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
