package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/events"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// SecretIndexDocument is where the timer scan keeps the secret index the
// KeyVaultEvents handler decides from.
const SecretIndexDocument = "index/secrets.json"

// SecretIndex is what the last scan learnt about the Key Vault secrets: each
// secret it saw, and the dependencies its idpkeeper-dependency tag names.
// The KeyVaultEvents handler answers Event Grid from this one document (and
// the config) instead of scanning the tenant: no Graph or Key Vault call, so
// the answer comes in milliseconds, far inside Event Grid's 30 s.
type SecretIndex struct {
	Version   int       `json:"version"`
	ScannedAt time.Time `json:"scannedAt"`
	// Vaults are the vault names (first label of the host) the scan read.
	Vaults  []string       `json:"vaults"`
	Secrets []IndexedEntry `json:"secrets"`
}

// IndexedEntry is one secret the scan saw. It holds names and references,
// never a value.
type IndexedEntry struct {
	Vault string `json:"vault"` // vault name, as Key Vault events carry it
	Name  string `json:"name"`
	// Dependencies from the secret's idpkeeper-dependency tag (the config's
	// keyVaultSecret entries are matched when an event arrives).
	Dependencies []string `json:"dependencies,omitempty"`
	// LearnedAt is when a resolve-secret job added the entry (wall
	// clock); entries a scan wrote have none. A learned entry is carried
	// from scan to scan for Retention.LearnedSecrets.
	LearnedAt *time.Time `json:"learnedAt,omitempty"`
}

// NewSecretIndex builds the index from a scan's inventory.
func NewSecretIndex(inv inventory.Inventory, cfg *config.Config, scannedAt time.Time) SecretIndex {
	ix := SecretIndex{Version: 1, ScannedAt: scannedAt.UTC(), Vaults: []string{}, Secrets: []IndexedEntry{}}
	vaults := map[string]bool{}
	for _, v := range cfg.KeyVaults {
		vaults[vaultName(v)] = true
	}
	for _, s := range inv.Secrets {
		vaults[vaultName(s.Vault)] = true
		e := IndexedEntry{Vault: vaultName(s.Vault), Name: s.Name}
		if ref := strings.TrimSpace(s.Tags[inventory.TagDependency]); ref != "" {
			e.Dependencies = []string{ref}
		}
		ix.Secrets = append(ix.Secrets, e)
	}
	for v := range vaults {
		if v != "" {
			ix.Vaults = append(ix.Vaults, v)
		}
	}
	sort.Strings(ix.Vaults)
	sortEntries(ix.Secrets)
	return ix
}

// find returns the entry for vault/name (case-insensitive).
func (ix *SecretIndex) find(vault, name string) (IndexedEntry, bool) {
	if ix == nil {
		return IndexedEntry{}, false
	}
	for _, e := range ix.Secrets {
		if strings.EqualFold(e.Vault, vault) && strings.EqualFold(e.Name, name) {
			return e, true
		}
	}
	return IndexedEntry{}, false
}

func (ix *SecretIndex) watches(vault string) bool {
	if ix == nil {
		return false
	}
	for _, v := range ix.Vaults {
		if strings.EqualFold(v, vault) {
			return true
		}
	}
	return false
}

// storeSecretIndex writes the index of a scan result. A scan lists only the
// secrets that back a dependency; secrets that resolve-secret jobs found to
// back nothing are carried over from the previous index (while their vault
// is still read, and for Retention.LearnedSecrets after they were learnt),
// so their events stay ignored without another job, and the index does not
// grow for ever with secrets long deleted.
func (p *Pipeline) storeSecretIndex(ctx context.Context, res *scan.Result) error {
	if p.State == nil {
		return nil
	}
	ix := NewSecretIndex(res.Inventory, p.Config, res.Report.GeneratedAt)
	if old, err := p.LoadSecretIndex(ctx); err == nil && old != nil {
		now := time.Now().UTC()
		cutoff := now.Add(-p.Retention.withDefaults().LearnedSecrets)
		for _, e := range old.Secrets {
			if _, known := ix.find(e.Vault, e.Name); known || len(e.Dependencies) > 0 || !ix.watches(e.Vault) {
				continue
			}
			if e.LearnedAt == nil {
				// Learnt before entries were dated: its age starts now.
				e.LearnedAt = &now
			}
			if e.LearnedAt.Before(cutoff) {
				continue
			}
			ix.Secrets = append(ix.Secrets, e)
		}
		sortEntries(ix.Secrets)
	}
	data, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	_, err = p.State.Put(ctx, SecretIndexDocument, data, statestore.Condition{})
	return err
}

// learnSecret records in the index what a resolve-secret job found, with
// ETag concurrency (a timer scan may rewrite the index meanwhile; losing
// that race only means the next event for the secret is resolved again).
func (p *Pipeline) learnSecret(ctx context.Context, vault, name string, deps []string) error {
	if p.State == nil {
		return nil
	}
	for attempt := 0; attempt < 5; attempt++ {
		ix := SecretIndex{Version: 1, ScannedAt: p.now(), Vaults: []string{vault}}
		data, etag, err := p.State.Get(ctx, SecretIndexDocument)
		switch {
		case errors.Is(err, statestore.ErrNotFound):
			etag = ""
		case err != nil:
			return fmt.Errorf("secret index: %w", err)
		default:
			if json.Unmarshal(data, &ix) != nil {
				ix = SecretIndex{Version: 1, ScannedAt: p.now(), Vaults: []string{vault}}
			}
		}
		learned := time.Now().UTC()
		entry := IndexedEntry{Vault: vault, Name: name, Dependencies: deps, LearnedAt: &learned}
		replaced := false
		for i := range ix.Secrets {
			if strings.EqualFold(ix.Secrets[i].Vault, vault) && strings.EqualFold(ix.Secrets[i].Name, name) {
				ix.Secrets[i], replaced = entry, true
			}
		}
		if !replaced {
			ix.Secrets = append(ix.Secrets, entry)
		}
		if !ix.watches(vault) {
			ix.Vaults = append(ix.Vaults, vault)
			sort.Strings(ix.Vaults)
		}
		sortEntries(ix.Secrets)
		out, err := json.MarshalIndent(ix, "", "  ")
		if err != nil {
			return err
		}
		_, err = p.State.Put(ctx, SecretIndexDocument, out, statestore.Condition{IfMatch: etag, IfNoneMatch: etag == ""})
		if !errors.Is(err, statestore.ErrConflict) {
			return err
		}
	}
	return nil
}

func sortEntries(es []IndexedEntry) {
	sort.Slice(es, func(i, j int) bool {
		return strings.ToLower(es[i].Vault+"/"+es[i].Name) < strings.ToLower(es[j].Vault+"/"+es[j].Name)
	})
}

// StoreSecretIndex scans the tenant afresh and keeps its secret index (what
// the timer scan does; `events handle` calls it first so that events are
// judged exactly as the function would judge them).
func (p *Pipeline) StoreSecretIndex(ctx context.Context) error {
	res, err := p.fresh(ctx)
	if err != nil {
		return err
	}
	return p.storeSecretIndex(ctx, res)
}

// LoadSecretIndex reads the last stored index: one state read. No index yet
// (ScanTimer has not run) is not an error: every secret is then unknown and
// its events are resolved by a job.
func (p *Pipeline) LoadSecretIndex(ctx context.Context) (*SecretIndex, error) {
	if p.State == nil {
		return nil, nil
	}
	data, _, err := p.State.Get(ctx, SecretIndexDocument)
	if errors.Is(err, statestore.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secret index: %w", err)
	}
	var ix SecretIndex
	if err := json.Unmarshal(data, &ix); err != nil {
		return nil, fmt.Errorf("secret index %s is damaged: %w", SecretIndexDocument, err)
	}
	return &ix, nil
}

// EventDecision is what to do with a well-formed Key Vault event.
type EventDecision struct {
	// Dependencies the object backs: queue a rotation job for each.
	Dependencies []string
	// Resolve: the index does not know the object well enough; queue a
	// resolve-secret job that looks it up.
	Resolve bool
	// Ignore, with Reason: nothing to do.
	Ignore bool
	Reason string
}

// DecideEvent judges a Key Vault event from the stored index and the config
// alone. Pure: no I/O.
//
//   - The object backs dependencies (its tag at the last scan, or the
//     config's keyVaultSecret) → rotation jobs.
//   - The vault is not one IdP Keeper watches → ignored.
//   - The last scan saw the object and it backed nothing → ignored, except
//     for a NewVersionCreated event: tags belong to versions, and the new
//     version may carry one → resolve.
//   - The last scan did not see it (created since, or no scan yet) → resolve.
func DecideEvent(ev events.KeyVaultEvent, ix *SecretIndex, cfg *config.Config) EventDecision {
	vault, name := ev.Data.VaultName, ev.Data.ObjectName
	deps := events.NewIndex(nil, cfg).Dependencies(vault, name)
	entry, known := ix.find(vault, name)
	for _, d := range entry.Dependencies {
		if !containsRef(deps, d) {
			deps = append(deps, d)
		}
	}
	sort.Strings(deps)
	if len(deps) > 0 {
		return EventDecision{Dependencies: deps}
	}
	watched := ix.watches(vault)
	for _, v := range cfg.KeyVaults {
		watched = watched || strings.EqualFold(vaultName(v), vault)
	}
	newVersion := strings.HasSuffix(ev.Type, "NewVersionCreated")
	switch {
	case !watched && ix != nil:
		return EventDecision{Ignore: true, Reason: fmt.Sprintf("vault %s is not one IdP Keeper reads (config keyVaults, IDPKEEPER_KEYVAULT_URL)", vault)}
	case known && !newVersion:
		return EventDecision{Ignore: true, Reason: fmt.Sprintf("%s/%s backs no dependency (no %s tag at the scan of %s, not in the config)",
			vault, name, inventory.TagDependency, ix.ScannedAt.Format(time.RFC3339))}
	case known:
		return EventDecision{Resolve: true, Reason: fmt.Sprintf("%s/%s backed no dependency at the scan of %s; its new version may carry an %s tag",
			vault, name, ix.ScannedAt.Format(time.RFC3339), inventory.TagDependency)}
	case ix == nil:
		return EventDecision{Resolve: true, Reason: fmt.Sprintf("no secret index yet (ScanTimer has not run); %s/%s is looked up by a job", vault, name)}
	default:
		return EventDecision{Resolve: true, Reason: fmt.Sprintf("%s/%s is not in the index of the scan of %s (created since?); it is looked up by a job",
			vault, name, ix.ScannedAt.Format(time.RFC3339))}
	}
}

func containsRef(list []string, ref string) bool {
	for _, r := range list {
		if inventory.SameRef(r, ref) {
			return true
		}
	}
	return false
}

// vaultName is the first label of a vault URL's host, the name Key Vault
// events carry in data.VaultName.
func vaultName(vaultURL string) string {
	h := vaultHost(vaultURL)
	name, _, _ := strings.Cut(h, ".")
	return name
}
