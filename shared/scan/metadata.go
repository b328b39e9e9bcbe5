package scan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/assess"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/report"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// MetadataOptions turn on the partner metadata check of a scan: for every
// federation whose config entry has a metadata URL (or MDQ service), fetch,
// verify and plan, and report what the plan says.
type MetadataOptions struct {
	// Store keeps the last good metadata per partner.
	Store metadata.Store
	// Client fetches metadata; nil means the scan's own: the snapshot replay
	// for a snapshot, and for a live tenant a client that refuses
	// non-public addresses after DNS resolution and on redirects, unless
	// the dependency's allowNetworks lists them (package netguard).
	Client *http.Client
}

// PartnerPlan is the metadata plan for one federation partner.
type PartnerPlan struct {
	Federation inventory.Federation
	Dependency *config.Dependency
	Plan       metadata.ChangePlan
	// LastGood is when the metadata the plan rests on was fetched and
	// passed every check (now, for a refresh that succeeded); nil when no
	// fetch ever did.
	LastGood *time.Time
}

// MetadataChecks are the plans as the report shows them.
func MetadataChecks(plans []PartnerPlan) []report.MetadataCheck {
	out := make([]report.MetadataCheck, 0, len(plans))
	for _, pp := range plans {
		out = append(out, report.MetadataCheck{Plan: pp.Plan, LastGood: pp.LastGood})
	}
	return out
}

// FindFederation finds a partner by Graph ID, one of its domains, or its
// display name (case-insensitive), refusing ambiguous names.
func FindFederation(inv inventory.Inventory, partner string) (*inventory.Federation, error) {
	var hits []*inventory.Federation
	for i := range inv.Federations {
		f := &inv.Federations[i]
		match := strings.EqualFold(f.ID, partner) || strings.EqualFold(f.DisplayName, partner)
		for _, d := range f.Domains {
			match = match || strings.EqualFold(d, partner)
		}
		if match {
			hits = append(hits, f)
		}
	}
	switch len(hits) {
	case 1:
		return hits[0], nil
	case 0:
		var names []string
		for _, f := range inv.Federations {
			names = append(names, f.DisplayName)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("no federation partner %q (partners: %s)", partner, strings.Join(names, ", "))
	default:
		return nil, fmt.Errorf("%q names %d federation partners; use the partner's Graph ID", partner, len(hits))
	}
}

// federationDependency is the config entry of a federation, by ID first and
// then by any of its domains.
func federationDependency(cfg *config.Config, f inventory.Federation) *config.Dependency {
	if d := cfg.Dependency(inventory.Ref(inventory.KindFederation, f.ID)); d != nil {
		return d
	}
	for _, domain := range f.Domains {
		if d := cfg.Dependency(inventory.Ref(inventory.KindFederation, domain)); d != nil {
			return d
		}
	}
	return nil
}

// HasMetadataSource says whether the config gives a metadata URL or MDQ
// service for the federation.
func HasMetadataSource(cfg *config.Config, f inventory.Federation) bool {
	dep := federationDependency(cfg, f)
	return dep != nil && dep.Metadata != nil && (dep.Metadata.URL != "" || dep.Metadata.MDQBase != "")
}

// partnerSettings turns a config entry's metadata section into the engine's
// source and trust anchor.
func partnerSettings(cfg *config.Config, m *config.Metadata) (metadata.Source, *metadata.TrustAnchor, error) {
	src := metadata.Source{URL: m.URL, MDQBase: m.MDQBase, EntityID: m.EntityID, AllowHTTP: m.AllowHTTP, MaxBytes: m.MaxBytes, Network: m.Policy()}
	trust := &metadata.TrustAnchor{SHA256: m.Trust.SHA256, AllowSHA1: m.AllowSHA1, RequireSignature: m.RequireSignature}
	if m.Trust.CertificateFile != "" {
		data, err := os.ReadFile(cfg.ResolvePath(m.Trust.CertificateFile))
		if err != nil {
			return src, nil, fmt.Errorf("trust certificate: %w", err)
		}
		certs, err := metadata.ParseCertificatesPEM(data)
		if err != nil {
			return src, nil, fmt.Errorf("trust certificate %s: %w", m.Trust.CertificateFile, err)
		}
		trust.Certificates = certs
	}
	if len(trust.Certificates) == 0 && len(trust.SHA256) == 0 && !trust.RequireSignature && !trust.AllowSHA1 {
		trust = nil
	}
	return src, trust, nil
}

// PlanPartner refreshes one partner's metadata and plans the change to Entra.
func (t *Tenant) PlanPartner(ctx context.Context, cfg *config.Config, f inventory.Federation, opts MetadataOptions, now time.Time) (PartnerPlan, error) {
	dep := federationDependency(cfg, f)
	pp := PartnerPlan{Federation: f, Dependency: dep}
	if !HasMetadataSource(cfg, f) {
		return pp, fmt.Errorf("partner %s has no metadata URL in the config (dependencies[].metadata.url)", f.DisplayName)
	}
	src, trust, err := partnerSettings(cfg, dep.Metadata)
	if err != nil {
		return pp, err
	}
	client := opts.Client
	if client == nil && t.metadataTransport != nil {
		client = &http.Client{Transport: t.metadataTransport(src.Network)}
	}
	fetcher := &metadata.Fetcher{Client: client, Now: func() time.Time { return now }}
	obs, err := metadata.Refresh(ctx, fetcher, opts.Store, f.ID, src, trust, now)
	if err != nil {
		return pp, err
	}
	if rr, ok := opts.Store.(RefreshRecorder); ok {
		if err := rr.SaveRefresh(ctx, f.ID, OutcomeOf(obs, now)); err != nil {
			return pp, err
		}
	}
	switch {
	case obs.Err == nil:
		t := now
		pp.LastGood = &t
	case obs.Last != nil:
		t := obs.Last.FetchedAt
		pp.LastGood = &t
	}
	pp.Plan = metadata.Plan(f, obs, metadata.Policy(cfg.Policy(dep)), now, metadata.PlanOptions{LeadTime: cfg.LeadTime(dep)})
	return pp, nil
}

// metadataParallelism is how many partners' metadata is fetched (or loaded
// from the store) at once: a tenant with thousands of partners took one
// round trip per partner after the other.
const metadataParallelism = 8

// eachPartner runs fn for every federation with a metadata source, at most
// metadataParallelism at a time, and returns the plans in federation order
// (a partner fn skips is left out) or the first error in that order.
func eachPartner(ctx context.Context, cfg *config.Config, inv inventory.Inventory, fn func(context.Context, inventory.Federation) (*PartnerPlan, error)) ([]PartnerPlan, error) {
	var feds []inventory.Federation
	for _, f := range inv.Federations {
		if HasMetadataSource(cfg, f) {
			feds = append(feds, f)
		}
	}
	plans := make([]*PartnerPlan, len(feds))
	errs := make([]error, len(feds))
	sem := make(chan struct{}, metadataParallelism)
	var wg sync.WaitGroup
	for i, f := range feds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = ctx.Err()
				return
			}
			defer func() { <-sem }()
			plans[i], errs[i] = fn(ctx, f)
		}()
	}
	wg.Wait()
	var out []PartnerPlan
	for i := range feds {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if plans[i] != nil {
			out = append(out, *plans[i])
		}
	}
	return out, nil
}

// MetadataPlans plans every partner that has a metadata source configured.
func (t *Tenant) MetadataPlans(ctx context.Context, cfg *config.Config, inv inventory.Inventory, opts MetadataOptions, now time.Time) ([]PartnerPlan, error) {
	return eachPartner(ctx, cfg, inv, func(ctx context.Context, f inventory.Federation) (*PartnerPlan, error) {
		pp, err := t.PlanPartner(ctx, cfg, f, opts, now)
		if err != nil {
			return nil, fmt.Errorf("metadata of %s: %w", f.DisplayName, err)
		}
		return &pp, nil
	})
}

// LastGoodPlans plans every partner with a metadata source from its last
// good record, without fetching: what the metadata said at the last refresh.
// When the store keeps refresh outcomes (RefreshRecorder) and the last
// refresh failed after the last good record, the plan is that failure, so
// the timer report shows the partner as failing rather than stale. Partners
// never refreshed yet are left out.
func LastGoodPlans(ctx context.Context, cfg *config.Config, inv inventory.Inventory, store metadata.Store, now time.Time) ([]PartnerPlan, error) {
	return eachPartner(ctx, cfg, inv, func(ctx context.Context, f inventory.Federation) (*PartnerPlan, error) {
		last, err := store.Load(ctx, f.ID)
		if err != nil {
			return nil, err
		}
		obs, ok := metadata.FromLastGood(last)
		// A refresh that failed after the last good one is what the
		// metadata says now: the partner is failing, not merely stale.
		if rr, isRecorder := store.(RefreshRecorder); isRecorder {
			o, err := rr.LoadRefresh(ctx, f.ID)
			if err != nil {
				return nil, err
			}
			if o != nil && !o.OK && (last == nil || o.At.After(last.FetchedAt)) {
				obs, ok = metadata.Observation{Last: last, Err: o.Err()}, true
			}
		}
		if !ok {
			return nil, nil
		}
		dep := federationDependency(cfg, f)
		pp := PartnerPlan{Federation: f, Dependency: dep,
			Plan: metadata.Plan(f, obs, metadata.Policy(cfg.Policy(dep)), now, metadata.PlanOptions{LeadTime: cfg.LeadTime(dep)})}
		if last != nil {
			fetched := last.FetchedAt
			pp.LastGood = &fetched
		}
		return &pp, nil
	})
}

// PlanFindings turns plans into findings. In-sync plans add nothing: the
// certificate's expiry is already assessed from the tenant.
func PlanFindings(plans []PartnerPlan, cfg *config.Config, inv inventory.Inventory, now time.Time) []assess.Finding {
	// The user flows offering each provider, once: not a pass over every
	// flow's providers per plan.
	flowsOf := map[string][]string{}
	for _, uf := range inv.UserFlows {
		for _, idp := range uf.IdentityProviders {
			k := strings.ToLower(idp.ID)
			flowsOf[k] = append(flowsOf[k], uf.ID)
		}
	}
	var out []assess.Finding
	for _, pp := range plans {
		p := pp.Plan
		var kind string
		sev := assess.Warning
		switch p.Outcome {
		case metadata.OutcomeInSync:
			continue
		case metadata.OutcomeMetadataFailure:
			kind = assess.KindFederationMetadataFailure
		case metadata.OutcomeIssuerChanged:
			kind, sev = assess.KindFederationMetadataIssuerChanged, assess.Critical
		case metadata.OutcomeCertificateReplaced:
			kind, sev = assess.KindFederationMetadataChange, assess.Critical
		case metadata.OutcomeEndpointChanged:
			kind = assess.KindFederationMetadataChange
		case metadata.OutcomeCertificateExpiring:
			kind = assess.KindFederationMetadataNoSuccessor
		case metadata.OutcomeRolloverPending:
			kind, sev = assess.KindFederationMetadataRollover, assess.Info
		default:
			kind = assess.KindFederationMetadataChange
		}
		f := pp.Federation
		finding := assess.Finding{
			ID:              assess.NewID(kind, f.ID, p.ID),
			Kind:            kind,
			Severity:        sev,
			Dependency:      assess.Dependency{Ref: inventory.Ref(inventory.KindFederation, f.ID), Kind: inventory.KindFederation, ID: f.ID, Name: f.DisplayName},
			ImpactedDomains: append([]string(nil), f.Domains...),
			Action:          planAction(p, f),
			Detail:          map[string]string{"plan": p.ID, "outcome": string(p.Outcome), "reason": p.Reason},
		}
		if p.CurrentCertificate != nil {
			due := p.CurrentCertificate.NotAfter
			finding.Due = &due
			if kind == assess.KindFederationMetadataNoSuccessor {
				if s, ok := assess.Classify(due, now, cfg.LeadTime(pp.Dependency)); ok {
					finding.Severity = s
				}
			}
		}
		finding.ImpactedUserFlows = append(finding.ImpactedUserFlows, flowsOf[strings.ToLower(f.ID)]...)
		if pp.Dependency != nil {
			if o := cfg.Owner(pp.Dependency.Owner); o != nil {
				finding.Owner = &assess.Owner{Name: o.Name, Email: o.Email, Organisation: o.Organisation, Internal: o.Internal}
			}
		}
		if finding.Owner == nil && cfg.FallbackAdmin != "" {
			finding.Owner = &assess.Owner{Email: cfg.FallbackAdmin, Internal: true, Fallback: true}
		}
		out = append(out, finding)
	}
	return out
}

func planAction(p metadata.ChangePlan, f inventory.Federation) string {
	switch p.Action {
	case metadata.ActionApply:
		return fmt.Sprintf("Apply metadata plan %s to the %s federation (idpkeeper metadata plan %s): %s", p.ID, f.DisplayName, f.ID, p.Reason)
	case metadata.ActionPropose:
		return fmt.Sprintf("Review and approve metadata plan %s for the %s federation (idpkeeper metadata plan %s): %s", p.ID, f.DisplayName, f.ID, p.Reason)
	default:
		return p.Reason
	}
}

// MemoryStore is a metadata.Store that forgets everything at exit: snapshot
// scans use it so replayed metadata never replaces the real last good record,
// and exports use it so every document is fetched whole (no 304) and recorded.
type MemoryStore struct {
	mu      sync.Mutex
	records map[string]metadata.Record
	refresh map[string]RefreshOutcome
}

// Load implements metadata.Store.
func (m *MemoryStore) Load(_ context.Context, partnerID string) (*metadata.Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.records[partnerID]
	if !ok {
		return nil, nil
	}
	return &rec, nil
}

// Save implements metadata.Store.
func (m *MemoryStore) Save(_ context.Context, partnerID string, rec metadata.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.records == nil {
		m.records = map[string]metadata.Record{}
	}
	m.records[partnerID] = rec
	return nil
}

// StateMetadataStore keeps last good metadata records in the state store
// (Blob Storage in Azure, a folder locally) as metadata/<partner>.json.
type StateMetadataStore struct {
	State statestore.Store
}

func metadataDoc(partnerID string) string {
	return "metadata/" + partnerPart(partnerID) + ".json"
}

// Load implements metadata.Store.
func (s StateMetadataStore) Load(ctx context.Context, partnerID string) (*metadata.Record, error) {
	data, _, err := s.State.Get(ctx, metadataDoc(partnerID))
	if errors.Is(err, statestore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec metadata.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("last good metadata of %s is unreadable: %w", partnerID, err)
	}
	return &rec, nil
}

// Save implements metadata.Store.
func (s StateMetadataStore) Save(ctx context.Context, partnerID string, rec metadata.Record) error {
	data, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.State.Put(ctx, metadataDoc(partnerID), data, statestore.Condition{})
	return err
}

// AnnotateSuccessors tells the certificate findings of partners what the
// metadata plan knows: when the partner already publishes its successor
// certificate (rollover pending), the certificate finding's detail names it
// (successorThumbprint, successorNotBefore) and its action says what is left
// — learn the switch date, and approve the plan then (or, under policy auto,
// nothing: IdP Keeper applies it). notify.PartnerAsk reads the same detail,
// so the partner is asked for its switch date instead of a certificate it
// has already published.
func AnnotateSuccessors(findings []assess.Finding, plans []PartnerPlan, cfg *config.Config) {
	for _, pp := range plans {
		s := pp.Plan.Successor
		if s == nil || pp.Plan.Outcome != metadata.OutcomeRolloverPending {
			continue
		}
		ref := inventory.Ref(inventory.KindFederation, pp.Federation.ID)
		auto := cfg.Policy(pp.Dependency) == config.PolicyAuto
		for i := range findings {
			f := &findings[i]
			if !inventory.SameRef(f.Dependency.Ref, ref) || f.Kind != assess.KindFederationCertExpiring {
				continue
			}
			if f.Detail == nil {
				f.Detail = map[string]string{}
			}
			f.Detail["successorThumbprint"] = s.SHA256
			f.Detail["successorNotBefore"] = s.NotBefore.UTC().Format(time.RFC3339)
			f.Detail["successorNotAfter"] = s.NotAfter.UTC().Format(time.RFC3339)
			if auto {
				f.Detail["autoApply"] = "true"
			}
			by := "the current certificate's expiry"
			if f.Due != nil {
				by = f.Due.UTC().Format("2006-01-02")
			}
			name := pp.Federation.DisplayName
			if auto {
				f.Action = fmt.Sprintf("Nothing to do unless %s misses %s: it already publishes its next signing certificate (%s) in its signed metadata, and IdP Keeper applies it to the federation in Entra when %s switches (policy auto).", name, by, s.SHA256, name)
			} else {
				f.Action = fmt.Sprintf("Ask %s for its switch date and approve the metadata plan for the federation in Entra then, before %s: %s already publishes its next signing certificate (%s) in its metadata (idpkeeper metadata plan %s).", name, by, name, s.SHA256, pp.Federation.ID)
			}
		}
	}
}

// RefreshOutcome is how the last metadata refresh of a partner went. It is
// kept next to the last good record, so a report made without fetching
// (the ScanTimer's) tells a partner whose refresh fails from one whose
// refresh merely has not run.
type RefreshOutcome struct {
	At time.Time `json:"at"`
	OK bool      `json:"ok"`
	// The failure, as metadata.Error carries it.
	Kind   metadata.ErrorKind `json:"kind,omitempty"`
	Detail string             `json:"detail,omitempty"`
	URL    string             `json:"url,omitempty"`
	Status int                `json:"status,omitempty"`
	Cause  string             `json:"cause,omitempty"`
}

// OutcomeOf is the outcome of a refresh that observed obs at now.
func OutcomeOf(obs metadata.Observation, now time.Time) RefreshOutcome {
	o := RefreshOutcome{At: now.UTC(), OK: obs.Err == nil}
	if obs.Err == nil {
		return o
	}
	var e *metadata.Error
	if errors.As(obs.Err, &e) {
		o.Kind, o.Detail, o.URL, o.Status = e.Kind, e.Detail, e.URL, e.Status
		if e.Err != nil {
			o.Cause = e.Err.Error()
		}
		return o
	}
	o.Kind, o.Detail = metadata.KindOf(obs.Err), obs.Err.Error()
	return o
}

// Err rebuilds the failure (nil for a refresh that succeeded).
func (o RefreshOutcome) Err() error {
	if o.OK {
		return nil
	}
	e := &metadata.Error{Kind: o.Kind, Detail: o.Detail, URL: o.URL, Status: o.Status}
	if o.Cause != "" {
		e.Err = errors.New(o.Cause)
	}
	return e
}

// RefreshRecorder is a metadata store that also keeps the last refresh
// outcome of each partner.
type RefreshRecorder interface {
	SaveRefresh(ctx context.Context, partnerID string, o RefreshOutcome) error
	LoadRefresh(ctx context.Context, partnerID string) (*RefreshOutcome, error)
}

// partnerPart is a partner ID as one part of a document name: path-escaped,
// and a leading dot escaped too, since names starting with a dot are the
// folder store's own (locks, temporary files) and refused.
func partnerPart(partnerID string) string {
	e := url.PathEscape(strings.ToLower(partnerID))
	if strings.HasPrefix(e, ".") {
		e = "%2E" + e[1:]
	}
	return e
}

// SaveRefresh implements RefreshRecorder.
func (m *MemoryStore) SaveRefresh(_ context.Context, partnerID string, o RefreshOutcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.refresh == nil {
		m.refresh = map[string]RefreshOutcome{}
	}
	m.refresh[partnerID] = o
	return nil
}

// LoadRefresh implements RefreshRecorder.
func (m *MemoryStore) LoadRefresh(_ context.Context, partnerID string) (*RefreshOutcome, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.refresh[partnerID]
	if !ok {
		return nil, nil
	}
	return &o, nil
}

func refreshDoc(partnerID string) string {
	return "metadata/" + partnerPart(partnerID) + ".refresh.json"
}

// SaveRefresh implements RefreshRecorder: metadata/<partner>.refresh.json.
func (s StateMetadataStore) SaveRefresh(ctx context.Context, partnerID string, o RefreshOutcome) error {
	data, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	_, err = s.State.Put(ctx, refreshDoc(partnerID), data, statestore.Condition{})
	return err
}

// LoadRefresh implements RefreshRecorder.
func (s StateMetadataStore) LoadRefresh(ctx context.Context, partnerID string) (*RefreshOutcome, error) {
	data, _, err := s.State.Get(ctx, refreshDoc(partnerID))
	if errors.Is(err, statestore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var o RefreshOutcome
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, fmt.Errorf("last metadata refresh of %s is unreadable: %w", partnerID, err)
	}
	return &o, nil
}
