// Package scan is the "scan" use case: read the tenant (live or from a
// snapshot), assess it against the configuration at a moment, and build the
// report. The command line (`idpkeeper scan`) and the ScanTimer function both
// call Run; they differ only in where the options come from.
package scan

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/snapshot"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// Source says where the tenant is read from: a snapshot folder, or the live
// tenant with a credential.
type Source struct {
	SnapshotDir string
	Credential  azcore.TokenCredential
	// Transport replaces the network under the SDK clients (tests, recording).
	Transport http.RoundTripper
}

// Tenant is an opened source, ready to read.
type Tenant struct {
	Reader *tenant.Reader
	// Label names the source in reports: "snapshot:DIR" or "tenant:ID".
	Label string
	// CapturedAt is the snapshot's capture time; zero for a live tenant.
	CapturedAt time.Time
	TenantID   string
	KeyVaults  []string
	// SecretNames are the secret names the configuration maps to dependencies.
	SecretNames []string
	// Watch is where the endpoint watch's histories are read from (nil: the
	// report has no availability): the state store (UseWatchState), and for
	// a snapshot its recorded history as the seed.
	Watch *watch.Store

	// transport carries Graph and Key Vault requests.
	transport http.RoundTripper
	// metadataTransport carries partner metadata requests under a
	// dependency's network policy; nil for a live tenant, where the metadata
	// fetcher dials through netguard itself.
	metadataTransport func(netguard.Policy) http.RoundTripper
}

// Open prepares a reader for the source, with the vaults and secret names
// the configuration (and, for a snapshot, its manifest) names.
func Open(cfg *config.Config, src Source) (*Tenant, error) {
	return OpenContext(context.Background(), cfg, src)
}

// OpenContext is Open that stops reading a snapshot when ctx is done.
func OpenContext(ctx context.Context, cfg *config.Config, src Source) (*Tenant, error) {
	names := configuredSecretNames(cfg)
	vaults := append([]string(nil), cfg.KeyVaults...)
	t := &Tenant{TenantID: cfg.Tenant.ID}
	transport := src.Transport
	cred := src.Credential
	var now func() time.Time
	if src.SnapshotDir != "" {
		replay, m, err := snapshot.OpenContext(ctx, src.SnapshotDir)
		if err != nil {
			return nil, err
		}
		transport, cred = replay, tenant.StaticCredential{}
		// The snapshot knows which vaults were read; the config may not.
		vaults = union(m.KeyVaults, vaults)
		names = union(m.SecretNames, names)
		t.Label = "snapshot:" + src.SnapshotDir
		t.CapturedAt = m.CapturedAt
		if m.TenantID != "" {
			t.TenantID = m.TenantID
		}
		captured := m.CapturedAt
		now = func() time.Time { return captured }
		if snapshot.HasState(src.SnapshotDir) {
			t.Watch = &watch.Store{Seed: snapshot.State{Dir: src.SnapshotDir}}
		}
	} else {
		if cred == nil {
			return nil, errors.New("scan: a live scan needs a credential")
		}
		t.Label = "tenant:" + cfg.Tenant.ID
	}
	cloud, err := CloudOf(cfg)
	if err != nil {
		return nil, err
	}
	clients, err := tenant.NewClients(cred, tenant.ClientOptions{
		Transport:    transport,
		KeyVaultURLs: vaults,
		Cloud:        cloud,
	})
	if err != nil {
		return nil, err
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[strings.ToLower(n)] = true
	}
	t.Reader = &tenant.Reader{Clients: clients, Now: now, SecretNames: set}
	t.KeyVaults, t.SecretNames = vaults, names
	t.transport = transport
	if t.transport == nil {
		t.transport = http.DefaultTransport
	} else {
		// A replay answers from files; a transport given by the caller
		// (tests, recording) is the caller's to guard.
		t.metadataTransport = func(netguard.Policy) http.RoundTripper { return transport }
	}
	return t, nil
}

// CloudOf is the Microsoft cloud the config names (tenant.cloud); the
// public cloud when it names none.
func CloudOf(cfg *config.Config) (tenant.Cloud, error) {
	if cfg == nil {
		return tenant.CloudPublic, nil
	}
	return tenant.CloudByName(cfg.Tenant.Cloud)
}

// configuredSecretNames are the secret names the config's keyVaultSecret
// fields name, lower-cased (Key Vault names are case-insensitive). Validation
// already refused malformed references.
func configuredSecretNames(cfg *config.Config) []string {
	var names []string
	for _, d := range cfg.Dependencies {
		if ref, err := config.ParseSecretRef(d.KeyVaultSecret); d.KeyVaultSecret != "" && err == nil {
			names = append(names, strings.ToLower(ref.Name))
		}
	}
	return names
}

func union(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string(nil), a...), b...) {
		if s != "" && !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// Options for Run.
type Options struct {
	Config *config.Config
	Source Source
	// Now is the moment findings are evaluated at. Zero means the snapshot's
	// capture time for a snapshot, and the current time for a live tenant.
	Now time.Time
	// Clock gives the current time for live scans; nil means time.Now.
	Clock func() time.Time
	// Metadata, when set, adds the partner metadata check.
	Metadata *MetadataOptions
	// WatchState is the state store the endpoint watch keeps its histories
	// in; its findings and availability join the report (a snapshot's
	// recorded history is read without it).
	WatchState statestore.Store
}

// Result is what a scan produced.
type Result struct {
	Inventory inventory.Inventory
	Findings  []assess.Finding
	Report    report.Report
	// Plans are the partner metadata plans (with Options.Metadata).
	Plans []PartnerPlan
	// Read is what reading the tenant cost (requests, 429s, time).
	Read tenant.ReadStats
}

// Run reads the tenant, assesses it and builds the report.
func Run(ctx context.Context, opts Options) (Result, error) {
	cfg := opts.Config
	if cfg == nil {
		cfg = config.Default()
	}
	t, err := OpenContext(ctx, cfg, opts.Source)
	if err != nil {
		return Result{}, err
	}
	t.UseWatchState(opts.WatchState)
	return t.Scan(ctx, cfg, opts.Now, opts.Clock, opts.Metadata)
}

// Scan reads the opened tenant and assesses it.
func (t *Tenant) Scan(ctx context.Context, cfg *config.Config, at time.Time, clock func() time.Time, md *MetadataOptions) (Result, error) {
	if clock == nil {
		clock = time.Now
	}
	inv, stats, err := t.Reader.ReadWithStats(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("reading %s: %w", t.Label, err)
	}
	tenant.SortInventory(&inv)
	if inv.TenantID == "" {
		inv.TenantID = t.TenantID
	}
	now := at
	if now.IsZero() {
		if !t.CapturedAt.IsZero() {
			now = t.CapturedAt
		} else {
			now = clock()
		}
	}
	now = now.UTC()
	findings := assess.Assess(inv, cfg, now)
	var plans []PartnerPlan
	if md != nil {
		plans, err = t.MetadataPlans(ctx, cfg, inv, *md, now)
		if err != nil {
			return Result{}, err
		}
		findings = append(findings, PlanFindings(plans, cfg, inv, now)...)
		AnnotateSuccessors(findings, plans, cfg)
		assess.SortFindings(findings)
	}
	var endpoints []report.EndpointAvailability
	if t.Watch != nil {
		wf, eps, err := WatchFindings(ctx, *t.Watch, cfg, inv, now)
		if err != nil {
			return Result{}, err
		}
		findings = append(findings, wf...)
		assess.SortFindings(findings)
		endpoints = eps
	}
	rep := report.Build(inv, findings, now, t.Label, report.WithConfig(cfg), report.WithMetadata(MetadataChecks(plans)), report.WithEndpoints(endpoints))
	rep.GeneratedAt = clock().UTC().Truncate(time.Second) // the schema's timestamps are to the second
	if t.CapturedAt.IsZero() {
		rep.Read = ReadCost(stats)
	}
	return Result{Inventory: inv, Findings: findings, Report: rep, Plans: plans, Read: stats}, nil
}

// ReadCost is the report's account of what a read cost.
func ReadCost(s tenant.ReadStats) *report.ReadCost {
	out := &report.ReadCost{Seconds: round(s.Duration.Seconds(), 3), Throttled: s.Throttled(), Services: []report.ServiceCost{}}
	for _, x := range s.Services {
		out.Services = append(out.Services, report.ServiceCost{Service: x.Service, HTTPRequests: x.HTTPRequests, Requests: x.Requests,
			Throttled: x.Throttled, Retries: x.Retries, HeldSeconds: round(x.Held.Seconds(), 3)})
	}
	return out
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

// Summary is one line saying what a read cost, for logs and standard
// error: "read the tenant in 21.4 s: graph 12 HTTP requests carrying 224
// (3 throttled, held 2.0 s); keyvault:kv1.vault.azure.net 935".
func Summary(c *report.ReadCost) string {
	if c == nil {
		return ""
	}
	var parts []string
	for _, s := range c.Services {
		p := fmt.Sprintf("%s %d", s.Service, s.HTTPRequests)
		if s.Requests != s.HTTPRequests {
			p = fmt.Sprintf("%s %d HTTP requests carrying %d", s.Service, s.HTTPRequests, s.Requests)
		}
		if s.Throttled > 0 {
			p += fmt.Sprintf(" (%d throttled, held %.1f s)", s.Throttled, s.HeldSeconds)
		}
		parts = append(parts, p)
	}
	return fmt.Sprintf("read the tenant in %.1f s, %d throttled (429): %s", c.Seconds, c.Throttled, strings.Join(parts, "; "))
}
