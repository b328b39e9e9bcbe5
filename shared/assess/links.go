package assess

import (
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Links answers, for the dependencies of one inventory and config, what
// Assess decides for each: its config entry, its owner, the Key Vault
// secrets that back it. Make it once (NewLinks) to ask about thousands of
// dependencies — the report's map and partner table do — instead of the
// one-off functions below, which index the inventory on every call.
type Links struct{ a *assessor }

// NewLinks indexes inv (and cfg; nil means config.Default()) for lookups.
func NewLinks(inv inventory.Inventory, cfg *config.Config) *Links {
	if cfg == nil {
		cfg = config.Default()
	}
	a := &assessor{inv: inv, cfg: cfg}
	a.link()
	return &Links{a: a}
}

// OwnerOf is the owner Assess names on findings about the dependency ref:
// the configured owner (a federation's entry is found by its Graph ID or one
// of its domains), else the fallback admin, else nil. The report's
// dependency map uses it so that the map and the findings agree, also for
// dependencies that have no finding.
func (l *Links) OwnerOf(ref string) *Owner { return l.a.owner(l.a.dependencyConfig(ref)) }

// SecretsBacking lists the Key Vault secrets that back the dependency ref,
// as Assess matches them: tagged idpkeeper-dependency=ref, or named by the
// config's keyVaultSecret.
func (l *Links) SecretsBacking(ref string) []inventory.Secret {
	matches, _ := l.a.secretsFor(ref, l.a.dependencyConfig(ref))
	return matches
}

// DependencyConfig is the config entry Assess uses for the dependency ref
// (a federation's by its Graph ID or one of its domains); nil when the
// config has none.
func (l *Links) DependencyConfig(ref string) *config.Dependency { return l.a.dependencyConfig(ref) }

// OwnerOf is Links.OwnerOf for one dependency.
func OwnerOf(inv inventory.Inventory, cfg *config.Config, ref string) *Owner {
	return NewLinks(inv, cfg).OwnerOf(ref)
}

// SecretsBacking is Links.SecretsBacking for one dependency.
func SecretsBacking(inv inventory.Inventory, cfg *config.Config, ref string) []inventory.Secret {
	return NewLinks(inv, cfg).SecretsBacking(ref)
}

// SecretKey identifies a Key Vault secret across vaults: the vault's host
// name and the secret name, in lower case (Key Vault names are
// case-insensitive): "kv.vault.azure.net/name". Findings about a secret
// carry the same vault and name in Detail.
func SecretKey(vault, name string) string {
	return strings.ToLower(secretIdentity(inventory.Secret{Vault: vault, Name: name}))
}

// DependencyConfig is Links.DependencyConfig for one dependency; nil
// without a config.
func DependencyConfig(inv inventory.Inventory, cfg *config.Config, ref string) *config.Dependency {
	if cfg == nil {
		return nil
	}
	return NewLinks(inv, cfg).DependencyConfig(ref)
}

// dependencyConfig is the config entry of ref; a federation's is found by
// its Graph ID or one of its domains, like Assess does.
func (a *assessor) dependencyConfig(ref string) *config.Dependency {
	kind, id, ok := inventory.ParseRef(ref)
	if ok && kind == inventory.KindFederation {
		a.link()
		if i, found := a.fedByID[strings.ToLower(id)]; found && inventory.SameID(a.inv.Federations[i].ID, id) {
			return a.federationConfig(a.inv.Federations[i])
		}
	}
	return a.cfg.Dependency(ref)
}

// link builds the assessor's lookups by ID, once.
func (a *assessor) link() {
	if a.linked {
		return
	}
	a.linked = true
	inv := a.inv
	a.fedByID = make(map[string]int, len(inv.Federations))
	a.known = map[string]struct{}{}
	add := func(kind, id string) { a.known[kind+"/"+strings.ToLower(id)] = struct{}{} }
	for _, s := range inv.SocialIdentityProviders {
		add(inventory.KindSocial, s.ID)
	}
	for i, f := range inv.Federations {
		if _, dup := a.fedByID[strings.ToLower(f.ID)]; !dup {
			a.fedByID[strings.ToLower(f.ID)] = i
		}
		add(inventory.KindFederation, f.ID)
		for _, d := range f.Domains {
			add(inventory.KindFederation, d)
		}
	}
	for _, c := range inv.APIConnectors {
		add(inventory.KindConnector, c.ID)
	}
	for _, u := range inv.UserFlows {
		add(inventory.KindUserFlow, u.ID)
	}
	a.secretsByTag = map[string][]int{}
	a.secretsByName = map[string][]int{}
	for i, s := range inv.Secrets {
		if tag := dependencyTag(s); tag != "" {
			k := strings.ToLower(tag)
			a.secretsByTag[k] = append(a.secretsByTag[k], i)
		}
		k := strings.ToLower(s.Name)
		a.secretsByName[k] = append(a.secretsByName[k], i)
	}
}
