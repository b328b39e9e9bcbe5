package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
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

// HandleEvent judges one Key Vault event: it reads the stored secret index
// (one state read) and calls HandleEventWith. See HandleEventWith.
func (p *Pipeline) HandleEvent(ctx context.Context, raw json.RawMessage) (EventOutcome, error) {
	return p.HandleEventWith(ctx, raw, p.secretIndexOrNil(ctx))
}

// secretIndexOrNil loads the index; an unreadable index is logged and
// treated as none, so events still get a decision (a resolve job) instead
// of failing the delivery.
func (p *Pipeline) secretIndexOrNil(ctx context.Context) *SecretIndex {
	ix, err := p.LoadSecretIndex(ctx)
	if err != nil {
		p.log().Warn("secret index not readable; unknown secrets will be resolved by a job", "error", err.Error())
		return nil
	}
	return ix
}

// HandleEventWith turns one Key Vault event into jobs, deciding from the
// secret index of the last scan (ix, nil when there is none) and the config
// only: it makes no Graph or Key Vault call and never scans, so Event Grid
// gets its answer at once (it waits 30 s, then redelivers). A malformed
// event is rejected and an event for an object IdP Keeper does not manage is
// ignored: both are acknowledged (the outcome says why) because Event Grid
// retrying them would never help. An object the index does not know gets a
// small resolve-secret job instead of a scan. The error is only for failures
// worth a retry: the queue refused the jobs.
func (p *Pipeline) HandleEventWith(ctx context.Context, raw json.RawMessage, ix *SecretIndex) (EventOutcome, error) {
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
	dec := DecideEvent(ev, ix, p.Config)
	if dec.Ignore {
		out.Outcome, out.Reason = EventIgnored, dec.Reason
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
	secret := &jobs.SecretRef{Vault: "https://" + ev.Data.VaultName + cloud.KeyVaultSuffix + "/", Name: ev.Data.ObjectName, Version: ev.Data.Version}
	var queued []jobs.Job
	if dec.Resolve {
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindResolveSecret, Dependency: resolveRef(ev.Data.VaultName, ev.Data.ObjectName),
			Reason: ev.Type, Secret: secret, Source: ev.ID, CreatedAt: created.UTC(),
		})
	}
	for _, dep := range dec.Dependencies {
		queued = append(queued, rotationJob(dep, ev.Type, secret, ev.ID, created))
	}
	if p.Sender == nil {
		return out, fmt.Errorf("event %s: no job queue configured (Service Bus settings)", ev.ID)
	}
	if err := p.Sender.Send(ctx, queued...); err != nil {
		return out, fmt.Errorf("queue jobs for event %s: %w", ev.ID, err)
	}
	out.Outcome = EventQueued
	if dec.Resolve {
		out.Reason = dec.Reason
	} else {
		out.Reason = fmt.Sprintf("%s %s/%s backs %d dependenc%s", ev.Data.ObjectType, ev.Data.VaultName, ev.Data.ObjectName, len(dec.Dependencies), map[bool]string{true: "y", false: "ies"}[len(dec.Dependencies) == 1])
	}
	for _, j := range queued {
		out.Jobs = append(out.Jobs, JobRef{Kind: j.Kind, MessageID: j.MessageID(), Dependency: j.Dependency})
	}
	return out, nil
}

// rotationJob is the job an event (or its resolve job) queues for one
// dependency. Built in one place so that a resolved event queues the very
// message (same MessageID) a known one would have.
func rotationJob(dep, eventType string, secret *jobs.SecretRef, source string, created time.Time) jobs.Job {
	return jobs.Job{
		Version: jobs.Version, Kind: jobs.KindRotateCredential, Dependency: dep, Reason: eventType,
		Secret: secret, Source: source, CreatedAt: created.UTC(),
	}
}

// resolveRef is the pseudo-dependency a resolve-secret job carries.
func resolveRef(vault, name string) string { return "secret/" + vault + "/" + name }

// ResolveSecret handles a resolve-secret job: a Key Vault event named an
// object the last scan's index did not know (created since, or a secret
// that backs nothing, which scans do not list). The job looks the one secret
// up — the properties of the event's version (Key Vault Reader), or a fresh
// scan of a snapshot — records what it learnt in the index so the next event
// for it is decided at once, and queues the rotation jobs the event would
// have queued had the index known the object (the same messages), or
// records that it backs nothing.
func (p *Pipeline) ResolveSecret(ctx context.Context, d jobs.Delivery) error {
	if d.Job.Secret == nil {
		return jobs.Permanent(fmt.Errorf("resolve-secret job %s names no secret", d.MessageID))
	}
	vault, name := vaultName(d.Job.Secret.Vault), d.Job.Secret.Name
	deps, err := p.lookUpSecret(ctx, *d.Job.Secret)
	if err != nil {
		return access.Classify(err, access.Need{KeyVault: access.Scan})
	}
	if err := p.learnSecret(ctx, vault, name, deps); err != nil {
		return err
	}
	if len(deps) == 0 {
		p.log().Info("resolved key vault event: backs no dependency", "secret", vault+"/"+name, "event", d.Job.Source)
		return p.record(ctx, dependencyLedgerID(d.Job.Dependency), d, OutcomeNothingToDo,
			fmt.Sprintf("%s/%s backs no dependency (no %s tag, not in the config)", vault, name, inventory.TagDependency))
	}
	var queued []jobs.Job
	for _, dep := range deps {
		queued = append(queued, rotationJob(dep, d.Job.Reason, d.Job.Secret, d.Job.Source, d.Job.CreatedAt))
	}
	if p.Sender == nil {
		return fmt.Errorf("resolve %s/%s: no job queue configured", vault, name)
	}
	if err := p.Sender.Send(ctx, queued...); err != nil {
		return err
	}
	p.log().Info("resolved key vault event", "secret", vault+"/"+name, "dependencies", strings.Join(deps, ","), "event", d.Job.Source)
	return p.record(ctx, dependencyLedgerID(d.Job.Dependency), d, OutcomeResolvedEvent, strings.Join(deps, ", "))
}

// lookUpSecret returns the dependencies a secret version backs: its
// idpkeeper-dependency tag and the config's keyVaultSecret entries. On a
// live tenant it reads that secret's version properties only (no value);
// a snapshot, which can replay only what a scan recorded, is scanned.
func (p *Pipeline) lookUpSecret(ctx context.Context, ref jobs.SecretRef) ([]string, error) {
	vault, name := vaultName(ref.Vault), ref.Name
	deps := events.NewIndex(nil, p.Config).Dependencies(vault, name)
	var kv *azsecrets.Client
	if p.Repair != nil {
		kv = p.Repair.Vaults[vaultHost(ref.Vault)]
	}
	if kv == nil {
		res, err := p.fresh(ctx)
		if err != nil {
			return nil, err
		}
		if err := p.storeSecretIndex(ctx, res); err != nil {
			return nil, err
		}
		return events.NewIndex(res.Inventory.Secrets, p.Config).Dependencies(vault, name), nil
	}
	tag, err := versionTag(ctx, kv, name, ref.Version)
	if err != nil {
		return nil, err
	}
	if tag != "" && !containsRef(deps, tag) {
		deps = append(deps, tag)
	}
	sort.Strings(deps)
	return deps, nil
}

// versionTag is the idpkeeper-dependency tag of a secret version (the newest
// when version is empty or unknown), read from the version list: properties
// only. A secret deleted since the event backs nothing.
func versionTag(ctx context.Context, kv *azsecrets.Client, name, version string) (string, error) {
	pager := kv.NewListSecretPropertiesVersionsPager(name, nil)
	var tag string
	var newest time.Time
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			var re *azcore.ResponseError
			if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
				return "", nil
			}
			return "", fmt.Errorf("list versions of %s: %w", name, err)
		}
		for _, v := range page.Value {
			if v == nil || v.ID == nil {
				continue
			}
			t := ""
			if v.Tags != nil && v.Tags[inventory.TagDependency] != nil {
				t = strings.TrimSpace(*v.Tags[inventory.TagDependency])
			}
			if version != "" && strings.EqualFold(v.ID.Version(), version) {
				return t, nil
			}
			if v.Attributes != nil && v.Attributes.Created != nil && v.Attributes.Created.After(newest) {
				newest, tag = *v.Attributes.Created, t
			}
		}
	}
	return tag, nil
}

// RejectedEvent is a malformed event to keep among the parked jobs.
type RejectedEvent struct {
	Raw     []byte
	EventID string
	Reason  string
}

// RecordRejectedEvent keeps a malformed event with its reason among the
// parked jobs (so `jobs dead-letters` lists it) before the event is
// acknowledged: nothing that arrives is silently dropped.
func (p *Pipeline) RecordRejectedEvent(ctx context.Context, raw []byte, eventID, reason string) error {
	return p.RecordRejectedEvents(ctx, []RejectedEvent{{Raw: raw, EventID: eventID, Reason: reason}})
}

// RecordRejectedEvents parks many rejected events at once, as a few batch
// documents written concurrently (jobs.ParkAll): a delivery of 10,000
// malformed events is parked well within Event Grid's 30 s, under 2 s on a
// folder or Blob Storage (BenchmarkKeyVaultEventsRejected).
func (p *Pipeline) RecordRejectedEvents(ctx context.Context, rs []RejectedEvent) error {
	if p.State == nil || len(rs) == 0 {
		return nil
	}
	ps := make([]jobs.Parked, 0, len(rs))
	for _, r := range rs {
		ps = append(ps, rejectedParked(r, p.now()))
	}
	return jobs.ParkAll(ctx, p.State, ps)
}

func rejectedParked(r RejectedEvent, at time.Time) jobs.Parked {
	sum := sha256.Sum256(r.Raw)
	id := "event-" + hex.EncodeToString(sum[:12])
	if r.EventID != "" {
		id = "event-" + r.EventID
	}
	body := string(r.Raw)
	if len(body) > 16<<10 {
		body = body[:16<<10]
	}
	return jobs.Parked{MessageID: id, Queue: "KeyVaultEvents", Reason: r.Reason, Body: body, At: at}
}
