// Package pipeline is the event-driven half of IdP Keeper: what a timer scan
// queues, and what each queued job does. The Functions handlers
// (ScanTimer, KeyVaultEvents, RefreshMetadata, RotateCredential,
// NotifyOwner) and the command line (`run`, `events handle`) call the same
// methods; only the Sender (Service Bus or in-process), the state store
// (Blob or a folder) and the notice channels differ.
//
// Every handler is safe to repeat: Service Bus delivers at least once and
// Event Grid retries. Jobs carry deterministic message IDs (duplicate
// detection drops repeats), job outcomes are recorded in the ledger once per
// message ID, and a notice stage is claimed in the ledger before it is sent,
// so a redelivered or concurrent job never sends it twice.
package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/jobs"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/repair/staged"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// LatestReport is where the latest report is kept in the state store.
const LatestReport = "reports/latest.json"

// Pipeline holds what the job handlers share.
type Pipeline struct {
	Config *config.Config
	// Source is where the tenant is read from (live, or a snapshot).
	Source scan.Source
	Sender jobs.Sender
	State  statestore.Store
	Ledger *ledger.Ledger
	// Notifier sends owner notices; nil means notices are not sent.
	Notifier *notify.Notifier
	// Metadata keeps the last good metadata per partner.
	Metadata metadata.Store
	// Repair, when set, lets jobs carry out the safe repairs (apply a new
	// social secret version, upload a connector certificate, apply or
	// propose a federation plan); its Mode decides whether anything is
	// written. Nil: jobs only plan and notify.
	Repair *repair.Deps
	// ProbeCredentials lets the scheduled connector probes read each
	// connector's credential from Key Vault (IDPKEEPER_PROBE_CREDENTIALS;
	// infra grants Key Vault Secrets User with it). Off: no secret value is
	// read and the probes report no-credential.
	ProbeCredentials bool
	// Prober checks pending basic-auth passwords against the API during a
	// staged rotation; nil means the API connector contract probe.
	Prober staged.Prober
	// WatchProber is the endpoint watch's prober template (tests: a DNS
	// resolver on loopback, a test CA); nil: a prober with the system's.
	// WatchChecker replaces the checks altogether (tests: scripted
	// results); nil: the prober, or for a snapshot the results recorded
	// with it.
	WatchProber  *watch.Prober
	WatchChecker watch.Checker
	Now          func() time.Time
	Logger       *slog.Logger
	// ScanTTL is how long a scan is reused by job handlers in the same
	// process (many notify jobs arrive together after a timer scan).
	ScanTTL time.Duration
	// Retention is how long the timer scan keeps what accumulates in the
	// state store; zero fields take DefaultRetention's.
	Retention Retention

	mu       sync.Mutex
	cached   *scan.Result
	cachedAt time.Time
	tenant   *scan.Tenant
}

func (p *Pipeline) now() time.Time {
	if p.Now != nil {
		return p.Now().UTC()
	}
	return time.Now().UTC()
}

func (p *Pipeline) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// current returns a recent scan of the tenant, scanning when the cached one
// is older than ScanTTL.
func (p *Pipeline) current(ctx context.Context) (*scan.Result, *scan.Tenant, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	ttl := p.ScanTTL
	if ttl == 0 {
		ttl = 5 * time.Minute
	}
	if p.cached != nil && time.Since(p.cachedAt) < ttl {
		return p.cached, p.tenant, nil
	}
	t, err := scan.Open(p.Config, p.Source)
	if err != nil {
		return nil, nil, err
	}
	// The endpoint watch's histories (the WatchTimer's) join the report.
	t.UseWatchState(p.State)
	res, err := t.Scan(ctx, p.Config, p.evaluationTime(t), nil, nil)
	if err != nil {
		return nil, nil, err
	}
	if p.Metadata != nil {
		// The report shows what each partner's metadata said at its last
		// refresh; the RefreshMetadata jobs queued below fetch it anew.
		plans, err := scan.LastGoodPlans(ctx, p.Config, res.Inventory, p.Metadata, p.evaluationTime(t))
		if err != nil {
			return nil, nil, err
		}
		if extra := scan.PlanFindings(plans, p.Config, res.Inventory, p.evaluationTime(t)); len(extra) > 0 || len(plans) > 0 {
			res.Findings = append(res.Findings, extra...)
			scan.AnnotateSuccessors(res.Findings, plans, p.Config)
			assess.SortFindings(res.Findings)
			generated, read := res.Report.GeneratedAt, res.Report.Read
			res.Report = report.Build(res.Inventory, res.Findings, p.evaluationTime(t), t.Label,
				report.WithConfig(p.Config), report.WithMetadata(scan.MetadataChecks(plans)), report.WithEndpoints(res.Report.Endpoints))
			res.Report.GeneratedAt, res.Report.Read = generated, read
		}
	}
	p.cached, p.cachedAt, p.tenant = &res, time.Now(), t
	return p.cached, t, nil
}

// fresh scans the tenant now, whatever the cache holds.
func (p *Pipeline) fresh(ctx context.Context) (*scan.Result, error) {
	res, _, err := p.freshScan(ctx)
	return res, err
}

func (p *Pipeline) freshScan(ctx context.Context) (*scan.Result, *scan.Tenant, error) {
	p.mu.Lock()
	p.cached = nil
	p.mu.Unlock()
	return p.current(ctx)
}

// evaluationTime is the pipeline's clock, except for a snapshot without an
// explicit clock, which is judged at its capture time.
func (p *Pipeline) evaluationTime(t *scan.Tenant) time.Time {
	if p.Now == nil && !t.CapturedAt.IsZero() {
		return t.CapturedAt
	}
	return p.now()
}

// ScanAndQueue is the timer scan: scan, store the report, and queue a
// metadata refresh for every partner with a metadata source and a notice job
// for every finding whose notice stage is due. It returns the jobs queued.
func (p *Pipeline) ScanAndQueue(ctx context.Context, runID string) (scan.Result, []jobs.Job, error) {
	res, t, err := p.freshScan(ctx) // a timer scan always reads afresh
	if err != nil {
		return scan.Result{}, nil, err
	}
	if err := p.storeReport(ctx, res.Report); err != nil {
		return *res, nil, err
	}
	// The KeyVaultEvents handler decides from this index alone.
	if err := p.storeSecretIndex(ctx, res); err != nil {
		return *res, nil, err
	}
	// The WatchTimer plans its checks from this inventory alone.
	if err := p.storeInventory(ctx, res); err != nil {
		return *res, nil, err
	}
	p.prune(ctx)
	now := p.evaluationTime(t)
	var queued []jobs.Job
	for _, f := range res.Inventory.Federations {
		if !scan.HasMetadataSource(p.Config, f) {
			continue
		}
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindRefreshMetadata,
			Dependency: inventory.Ref(inventory.KindFederation, f.ID),
			Reason:     "scan", Source: runID, CreatedAt: now,
		})
	}
	// A newer secret version than the one applied (stored without an event
	// reaching us) is applied like a SecretNewVersionCreated event.
	for _, sec := range res.Inventory.Secrets {
		ref := sec.Tags[inventory.TagDependency]
		if kind, _, _ := inventory.ParseRef(ref); kind != inventory.KindSocial || sec.AppliedVersion == "" || sec.Version == sec.AppliedVersion {
			continue
		}
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindRotateCredential, Dependency: ref, Reason: ReasonScanNewVersion,
			Secret: &jobs.SecretRef{Vault: sec.Vault, Name: sec.Name, Version: sec.Version}, Source: runID, CreatedAt: now,
		})
	}
	days := p.Config.Defaults.EscalationDays
	if len(days) == 0 {
		days = config.DefaultEscalationDays()
	}
	for _, f := range res.Findings {
		stage, ok := noticeStage(f, now, days)
		if !ok {
			continue
		}
		queued = append(queued, jobs.Job{
			Version: jobs.Version, Kind: jobs.KindNotifyOwner,
			Dependency: f.Dependency.Ref, Reason: "scan", FindingID: f.ID, Stage: stage,
			Source: runID, CreatedAt: now,
		})
	}
	if p.Sender == nil {
		if len(queued) > 0 {
			p.log().Warn("no job queue: jobs not queued", "jobs", len(queued))
		}
		return *res, nil, nil
	}
	if len(queued) > 0 {
		if err := p.Sender.Send(ctx, queued...); err != nil {
			return *res, nil, fmt.Errorf("queue jobs: %w", err)
		}
	}
	return *res, queued, nil
}

// Rejudge scans again, with what the jobs have learnt since the timer scan
// (partner metadata refreshed by RefreshMetadata jobs, kept as last good),
// and stores that report as the latest. `run`, which drains every job in
// one process, ends with it, so that it reports the findings `scan` reports
// (a partner's pending rollover is known only once its metadata was read).
func (p *Pipeline) Rejudge(ctx context.Context) (scan.Result, error) {
	res, err := p.fresh(ctx)
	if err != nil {
		return scan.Result{}, err
	}
	if err := p.storeReport(ctx, res.Report); err != nil {
		return *res, err
	}
	return *res, nil
}

// noticeStage is the notice stage due for a finding, judged without its
// ledger entry (the NotifyOwner handler checks acknowledgements and what
// was already sent).
func noticeStage(f assess.Finding, now time.Time, days []int) (string, bool) {
	d := notify.Due(ledger.Entry{}, f, now, days)
	return d.Stage, d.Due
}

func (p *Pipeline) storeReport(ctx context.Context, rep report.Report) error {
	if p.State == nil {
		return nil
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, rep, report.FormatJSON); err != nil {
		return err
	}
	dated := "reports/" + rep.GeneratedAt.UTC().Format("2006/01/02/150405Z") + ".json"
	if _, err := p.State.Put(ctx, dated, buf.Bytes(), statestore.Condition{}); err != nil {
		return err
	}
	_, err := p.State.Put(ctx, LatestReport, buf.Bytes(), statestore.Condition{})
	return err
}

// Handler routes a delivery to the handler for its job kind.
func (p *Pipeline) Handler() jobs.Handler {
	return jobs.Dispatcher{
		jobs.KindRefreshMetadata:  p.RefreshMetadata,
		jobs.KindRotateCredential: p.RotateCredential,
		jobs.KindNotifyOwner:      p.NotifyOwner,
		jobs.KindResolveSecret:    p.ResolveSecret,
	}.Dispatch
}

// record notes a job's outcome on a ledger entry, once per message ID.
func (p *Pipeline) record(ctx context.Context, ledgerID string, d jobs.Delivery, outcome, reason string) error {
	if p.Ledger == nil {
		return nil
	}
	_, err := p.Ledger.RecordJob(ctx, ledgerID, ledger.JobOutcome{
		MessageID: d.MessageID, Kind: string(d.Job.Kind), Outcome: outcome, Reason: reason, At: p.now(),
	})
	return err
}

// dependencyLedgerID is the ledger document for facts about a dependency as
// a whole (last good metadata, jobs that found nothing wrong).
func dependencyLedgerID(ref string) string {
	return assess.NewID("dependency", ref)
}
