package events

import (
	"sort"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
)

// Index says which dependencies a Key Vault object backs, from the
// idpkeeper-dependency tag on the secret (the backing secret of a
// certificate carries the certificate's name) and from the config's
// keyVaultSecret entries.
type Index struct {
	// byObject maps "vault/name" (lower case) to dependency references.
	byObject map[string][]string
	// byName maps a bare name for config entries that name no vault.
	byName map[string][]string
}

// NewIndex builds the index from secret properties (a scan's inventory) and
// the config.
func NewIndex(secrets []inventory.Secret, cfg *config.Config) *Index {
	ix := &Index{byObject: map[string][]string{}, byName: map[string][]string{}}
	for _, s := range secrets {
		if ref := strings.TrimSpace(s.Tags[inventory.TagDependency]); ref != "" {
			k := objectKey(vaultName(s.Vault), s.Name)
			ix.byObject[k] = appendRef(ix.byObject[k], ref)
		}
	}
	if cfg != nil {
		for _, d := range cfg.Dependencies {
			if d.KeyVaultSecret == "" {
				continue
			}
			ref, err := config.ParseSecretRef(d.KeyVaultSecret)
			if err != nil {
				continue // Validate already reported it
			}
			if ref.Vault == "" {
				n := strings.ToLower(ref.Name)
				ix.byName[n] = appendRef(ix.byName[n], d.Ref)
				continue
			}
			v, _, _ := strings.Cut(ref.Vault, ".")
			k := objectKey(v, ref.Name)
			ix.byObject[k] = appendRef(ix.byObject[k], d.Ref)
		}
	}
	return ix
}

// Dependencies returns the dependency references that the object
// (vault name as in the event, object name) backs, sorted.
func (ix *Index) Dependencies(vault, name string) []string {
	var refs []string
	for _, r := range ix.byObject[objectKey(vault, name)] {
		refs = appendRef(refs, r)
	}
	for _, r := range ix.byName[strings.ToLower(name)] {
		refs = appendRef(refs, r)
	}
	sort.Strings(refs)
	return refs
}

func objectKey(vault, name string) string {
	return strings.ToLower(vault) + "/" + strings.ToLower(name)
}

// vaultName is the first label of a vault URL's host: the name Key Vault
// events carry in data.VaultName.
func vaultName(vaultURL string) string {
	host := strings.TrimPrefix(strings.TrimPrefix(vaultURL, "https://"), "http://")
	name, _, _ := strings.Cut(host, ".")
	return name
}

func appendRef(list []string, ref string) []string {
	for _, r := range list {
		if inventory.SameRef(r, ref) {
			return list
		}
	}
	return append(list, ref)
}
