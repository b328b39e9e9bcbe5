package assess

import (
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// OwnerOf is the owner Assess names on findings about the dependency ref:
// the configured owner (a federation's entry is found by its Graph ID or one
// of its domains), else the fallback admin, else nil. The report's
// dependency map uses it so that the map and the findings agree, also for
// dependencies that have no finding.
func OwnerOf(inv inventory.Inventory, cfg *config.Config, ref string) *Owner {
	if cfg == nil {
		cfg = config.Default()
	}
	a := &assessor{inv: inv, cfg: cfg}
	return a.owner(a.dependencyConfig(ref))
}

// SecretsBacking lists the Key Vault secrets that back the dependency ref,
// as Assess matches them: tagged idpkeeper-dependency=ref, or named by the
// config's keyVaultSecret.
func SecretsBacking(inv inventory.Inventory, cfg *config.Config, ref string) []inventory.Secret {
	if cfg == nil {
		cfg = config.Default()
	}
	a := &assessor{inv: inv, cfg: cfg}
	matches, _ := a.secretsFor(ref, a.dependencyConfig(ref))
	return matches
}

// SecretKey identifies a Key Vault secret across vaults: the vault's host
// name and the secret name, in lower case (Key Vault names are
// case-insensitive): "kv.vault.azure.net/name". Findings about a secret
// carry the same vault and name in Detail.
func SecretKey(vault, name string) string {
	return strings.ToLower(secretIdentity(inventory.Secret{Vault: vault, Name: name}))
}

// DependencyConfig is the config entry Assess uses for the dependency ref
// (a federation's by its Graph ID or one of its domains); nil when the
// config has none.
func DependencyConfig(inv inventory.Inventory, cfg *config.Config, ref string) *config.Dependency {
	if cfg == nil {
		return nil
	}
	a := &assessor{inv: inv, cfg: cfg}
	return a.dependencyConfig(ref)
}

// dependencyConfig is the config entry of ref; a federation's is found by
// its Graph ID or one of its domains, like Assess does.
func (a *assessor) dependencyConfig(ref string) *config.Dependency {
	kind, id, ok := inventory.ParseRef(ref)
	if ok && kind == inventory.KindFederation {
		for _, f := range a.inv.Federations {
			if inventory.SameID(f.ID, id) {
				return a.federationConfig(f)
			}
		}
	}
	return a.cfg.Dependency(ref)
}
