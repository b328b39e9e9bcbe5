package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

// Event outcomes, as `events handle` prints them.
const (
	EventQueued   = "queued"
	EventIgnored  = "ignored"
	EventRejected = "rejected"
)

// EventOutcome is what became of one Key Vault event: the JSON line
// `idpkeeper events handle` prints per event.
type EventOutcome struct {
	ID        string   `json:"id"`
	EventType string   `json:"eventType"`
	Outcome   string   `json:"outcome"`
	Reason    string   `json:"reason"`
	Jobs      []JobRef `json:"jobs"`
}

// JobRef names a queued job.
type JobRef struct {
	Kind       jobs.Kind `json:"kind"`
	MessageID  string    `json:"messageId"`
	Dependency string    `json:"dependency"`
}

// HandleEvent turns one Key Vault event into rotation jobs. A malformed event
// is rejected and an event for an object IdP Keeper does not manage is
// ignored: both are acknowledged (the outcome says why) because Event Grid
// retrying them would never help. The error is only for failures worth a
// retry: the tenant could not be read, or the queue refused the jobs.
func (p *Pipeline) HandleEvent(ctx context.Context, raw json.RawMessage) (EventOutcome, error) {
	out := EventOutcome{Jobs: []JobRef{}}
	e, err := events.Decode(raw)
	if err != nil {
		out.Outcome, out.Reason = EventRejected, err.Error()
		return out, nil
	}
	out.ID, out.EventType = e.ID, e.Type
	if !slices.Contains(events.HandledTypes, e.Type) {
		out.Outcome, out.Reason = EventIgnored, "event type "+e.Type+" is not one IdP Keeper acts on"
		return out, nil
	}
	ev, err := events.ParseKeyVault(e)
	if err != nil {
		out.Outcome, out.Reason = EventRejected, err.Error()
		return out, nil
	}
	res, _, err := p.current(ctx)
	if err != nil {
		return out, err
	}
	deps := events.NewIndex(res.Inventory.Secrets, p.Config).Dependencies(ev.Data.VaultName, ev.Data.ObjectName)
	if len(deps) == 0 {
		out.Outcome = EventIgnored
		out.Reason = fmt.Sprintf("%s/%s backs no dependency (no %s tag, not in the config)", ev.Data.VaultName, ev.Data.ObjectName, "idpkeeper-dependency")
		p.log().Debug("event ignored", "id", ev.ID, "reason", out.Reason)
		return out, nil
	}
	created := ev.Time
	if created.IsZero() {
		created = p.now()
	}
	// The event names the vault by name; its host follows the tenant's
	// cloud (tenant.cloud: vault.azure.net, vault.usgovcloudapi.net, ...).
	cloud, err := scan.CloudOf(p.Config)
	if err != nil {
		return out, err
	}
	var queued []jobs.Job
	for _, dep := range deps {
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindRotateCredential, Dependency: dep, Reason: ev.Type,
			Secret:    &jobs.SecretRef{Vault: "https://" + ev.Data.VaultName + cloud.KeyVaultSuffix + "/", Name: ev.Data.ObjectName, Version: ev.Data.Version},
			Source:    ev.ID,
			CreatedAt: created.UTC(),
		})
	}
	if p.Sender == nil {
		return out, fmt.Errorf("event %s: no job queue configured (Service Bus settings)", ev.ID)
	}
	if err := p.Sender.Send(ctx, queued...); err != nil {
		return out, fmt.Errorf("queue jobs for event %s: %w", ev.ID, err)
	}
	out.Outcome = EventQueued
	out.Reason = fmt.Sprintf("%s %s/%s backs %d dependenc%s", ev.Data.ObjectType, ev.Data.VaultName, ev.Data.ObjectName, len(deps), map[bool]string{true: "y", false: "ies"}[len(deps) == 1])
	for _, j := range queued {
		out.Jobs = append(out.Jobs, JobRef{Kind: j.Kind, MessageID: j.MessageID(), Dependency: j.Dependency})
	}
	return out, nil
}

// RecordRejectedEvent keeps a malformed event with its reason among the
// parked jobs (so `jobs dead-letters` lists it) before the event is
// acknowledged: nothing that arrives is silently dropped.
func (p *Pipeline) RecordRejectedEvent(ctx context.Context, raw []byte, eventID, reason string) error {
	if p.State == nil {
		return nil
	}
	sum := sha256.Sum256(raw)
	id := "event-" + hex.EncodeToString(sum[:12])
	if eventID != "" {
		id = "event-" + eventID
	}
	body := string(raw)
	if len(body) > 16<<10 {
		body = body[:16<<10]
	}
	return jobs.Park(ctx, p.State, jobs.Parked{MessageID: id, Queue: "KeyVaultEvents", Reason: reason, Body: body, At: p.now()})
}
