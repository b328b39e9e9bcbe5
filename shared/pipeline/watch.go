package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/ledger"
	"github.com/idpkeeper/idpkeeper/shared/notify"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// InventoryDocument is where the timer scan keeps the inventory it read:
// the WatchTimer plans its checks from it, without scanning the tenant.
const InventoryDocument = "index/inventory.json"

// StoredInventory is the inventory document. It holds what a scan read —
// names, URLs, certificate facts, secret properties — never a secret value.
type StoredInventory struct {
	Version   int                 `json:"version"`
	ScannedAt time.Time           `json:"scannedAt"`
	Inventory inventory.Inventory `json:"inventory"`
}

// ErrNoInventory: the timer scan has not stored an inventory yet.
var ErrNoInventory = errors.New("no stored inventory yet: the ScanTimer function (or `idpkeeper run`) stores one at its next scan")

func (p *Pipeline) storeInventory(ctx context.Context, res *scan.Result) error {
	if p.State == nil {
		return nil
	}
	data, err := json.Marshal(StoredInventory{Version: 1, ScannedAt: res.Report.GeneratedAt, Inventory: res.Inventory})
	if err != nil {
		return err
	}
	_, err = p.State.Put(ctx, InventoryDocument, data, statestore.Condition{})
	return err
}

// LoadInventory reads the inventory the last timer scan stored.
func (p *Pipeline) LoadInventory(ctx context.Context) (StoredInventory, error) {
	if p.State == nil {
		return StoredInventory{}, ErrNoInventory
	}
	data, _, err := p.State.Get(ctx, InventoryDocument)
	if errors.Is(err, statestore.ErrNotFound) {
		return StoredInventory{}, ErrNoInventory
	}
	if err != nil {
		return StoredInventory{}, err
	}
	var si StoredInventory
	if err := json.Unmarshal(data, &si); err != nil || si.Version != 1 {
		return StoredInventory{}, fmt.Errorf("%s is not a stored inventory this build reads", InventoryDocument)
	}
	return si, nil
}

// WatchStore is where the watch keeps its histories: the state store,
// continuing a snapshot's recorded history when the app reads one.
func (p *Pipeline) WatchStore() watch.Store {
	s := watch.Store{State: p.State}
	if p.Source.SnapshotDir != "" && snapshot.HasState(p.Source.SnapshotDir) {
		s.Seed = snapshot.State{Dir: p.Source.SnapshotDir}
	}
	return s
}

// WatchRun is what one watch round did.
type WatchRun struct {
	Outcome  watch.Outcome
	Findings []assess.Finding
	// Notices are the notice outcomes of the findings (none without a
	// notifier).
	Notices []notify.Result
	// NoticeErrors are notices that failed (retried next round).
	NoticeErrors []string
}

// Watch is the WatchTimer: check every endpoint of the inventory (nil: the
// one the last timer scan stored; no tenant scan), record each result in
// its history, judge the histories, and tell the owners — the partner for
// its sign-in endpoint — through the notice stages, ledger and channels;
// a recovery notice goes to whoever was told about the outage, and closes
// it in the ledger. A snapshot source is not dialled: the results recorded
// with it are replayed (watch.Recorded).
func (p *Pipeline) Watch(ctx context.Context, runID string, inv *inventory.Inventory) (WatchRun, error) {
	if inv == nil {
		si, err := p.LoadInventory(ctx)
		if err != nil {
			return WatchRun{}, err
		}
		inv = &si.Inventory
	}
	cfg := p.Config
	settings := cfg.WatchSettings()
	rules := watch.RulesFrom(cfg)
	eps := watch.Endpoints(*inv, cfg)
	store := p.WatchStore()
	var checker watch.Checker
	switch {
	case p.WatchChecker != nil:
		checker = p.WatchChecker
	case p.Source.SnapshotDir != "":
		checker = watch.Recorded{Seed: watch.Store{State: store.Seed}, Now: p.now}
	default:
		pr := &watch.Prober{}
		if p.WatchProber != nil {
			*pr = *p.WatchProber
		}
		if pr.Timeout == 0 {
			pr.Timeout = settings.Timeout.Std()
		}
		if pr.From == "" {
			pr.From = ObservedFrom(settings.ObservedFrom)
		}
		if pr.Now == nil {
			pr.Now = p.now
		}
		if pr.Connector == nil {
			pr.Connector = p.connectorCheck(*inv)
		}
		checker = pr
	}
	round := watch.Round{Store: store, Checker: checker, Rules: rules, Concurrency: settings.Concurrency, Now: p.now}
	out, err := round.Run(ctx, eps)
	if err != nil {
		return WatchRun{Outcome: out}, err
	}
	for _, pr := range out.Problems {
		p.log().Warn("watch history", "problem", pr)
	}
	run := WatchRun{Outcome: out, Findings: watch.Findings(*inv, cfg, eps, out.Statuses, out.At, rules)}
	if p.Notifier == nil {
		return run, nil
	}
	for _, f := range run.Findings {
		r, err := p.watchNotice(ctx, f, runID)
		if err != nil {
			run.NoticeErrors = append(run.NoticeErrors, f.ID+": "+err.Error())
			p.log().Warn("watch notice not sent; the next round tries again", "finding", f.ID, "error", err.Error())
			continue
		}
		if r.Stage != "" {
			run.Notices = append(run.Notices, r)
		}
	}
	return run, nil
}

// watchNotice sends what a watch finding is due: the notice stage of an
// outage (overdue from its start, so daily while it lasts), of an expiring
// TLS certificate, of a degraded endpoint (once); and for a recovery the
// "recovered" notice, only when the outage itself was notified — the
// recovery closes that outage's ledger entry.
func (p *Pipeline) watchNotice(ctx context.Context, f assess.Finding, runID string) (notify.Result, error) {
	if f.Kind != watch.KindRecovered {
		return p.Notifier.Notify(ctx, f, runID)
	}
	down := f.Detail["downFinding"]
	if down == "" || p.Ledger == nil {
		return notify.Result{FindingID: f.ID}, nil
	}
	e, err := p.Ledger.Get(ctx, down)
	if errors.Is(err, statestore.ErrNotFound) {
		return notify.Result{FindingID: f.ID}, nil // nobody was told of the outage
	}
	if err != nil {
		return notify.Result{}, err
	}
	told := false
	for _, n := range e.Notices {
		told = told || n.Status == ledger.StatusSent
	}
	if !told {
		return notify.Result{FindingID: f.ID}, nil
	}
	r, err := p.Notifier.Tell(ctx, f, "recovered", runID)
	if err != nil {
		return r, err
	}
	_, err = p.Ledger.RecordJob(ctx, down, ledger.JobOutcome{
		MessageID: "watch:" + f.ID, Kind: "watch", Outcome: OutcomeResolved,
		Reason: "recovered at " + f.Detail["recoveredAt"] + "; recovery notice " + f.ID, At: p.now(),
	})
	return r, err
}

// connectorCheck is the watch's API connector check with the connector's
// credential, read once per round from its Key Vault secret when
// ProbeCredentials allows (Key Vault Secrets User) and used for the request
// only; without it the check runs without a credential and reports
// no-credential, never auth-failed. The request goes through the watch's
// guarded client (see package watch).
func (p *Pipeline) connectorCheck(inv inventory.Inventory) watch.ConnectorCheck {
	type cred struct {
		auth    probe.Auth
		missing string
	}
	var mu sync.Mutex
	cache := map[string]cred{}
	return func(ctx context.Context, ep watch.Endpoint, client *http.Client) probe.Result {
		c := ep.Connector
		if c == nil {
			return watch.ProbeWithoutCredential(ctx, ep, client)
		}
		mu.Lock()
		cr, ok := cache[strings.ToLower(c.ID)]
		if !ok {
			cr.auth, cr.missing = p.connectorAuth(ctx, inv, *c)
			cache[strings.ToLower(c.ID)] = cr
		}
		mu.Unlock()
		r := probe.Probe(ctx, probe.Request{URL: ep.URL, Step: ep.Step, Auth: cr.auth, Client: client})
		if cr.missing != "" {
			r = probe.WithoutCredential(r, cr.missing)
		}
		return r
	}
}

// connectorAuth is the credential of connector c and, when it cannot be
// had, why not.
func (p *Pipeline) connectorAuth(ctx context.Context, inv inventory.Inventory, c inventory.APIConnector) (probe.Auth, string) {
	if c.AuthType != inventory.AuthBasic && c.AuthType != inventory.AuthCertificate {
		return probe.Auth{}, ""
	}
	secret := BackingSecret(p.Config, inv, inventory.Ref(inventory.KindConnector, c.ID))
	switch {
	case !p.ProbeCredentials:
		return probe.Auth{}, "credentials are not read: turn on " + access.ProbeCredentials.Name + " (" + access.ProbeCredentials.Enable() + "; grants " + access.ProbeCredentials.KeyVaultRole + ")"
	case p.Repair == nil:
		return probe.Auth{}, "no Key Vault client: the app reads a snapshot"
	case secret == nil:
		return probe.Auth{}, "no Key Vault secret backs this connector (tag " + inventory.TagDependency + " or config keyVaultSecret)"
	}
	a, err := credentialFor(ctx, p.Repair, c, *secret)
	if err != nil {
		p.log().Warn("connector check without its credential", "connector", c.DisplayName, "reason", err.Error())
		return probe.Auth{}, err.Error()
	}
	return a, ""
}

var regionName = regexp.MustCompile(`^[A-Za-z0-9 ()-]{2,40}$`)

// ObservedFrom names where the checks run, for notices: the config's
// watch.observedFrom, else the Functions region Azure names (REGION_NAME),
// else "IdP Keeper".
func ObservedFrom(configured string) string {
	if configured != "" {
		return configured
	}
	if r := strings.TrimSpace(os.Getenv("REGION_NAME")); regionName.MatchString(r) {
		return "IdP Keeper in Azure " + r
	}
	return "IdP Keeper"
}
