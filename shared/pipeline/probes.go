package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/repair"
	"github.com/idpkeeper/idpkeeper/shared/statestore"
)

// LatestProbes is where the scheduled connector probes are kept.
const LatestProbes = "probes/latest.json"

// ConnectorProbe is one connector step probed on schedule.
type ConnectorProbe struct {
	ConnectorID string       `json:"connectorId"`
	Name        string       `json:"name"`
	Result      probe.Result `json:"result"`
}

// ProbeConnectors runs the API connector contract probe against every
// connector, for each step user flows call it at, and stores the results.
// With ProbeCredentials on, each connector's credential is read from its
// backing Key Vault secret for the request only (Key Vault Secrets User);
// with it off no value is read, the probe goes without it and a connector
// that expects one reports no-credential — never auth-failed, which would
// blame a credential nobody tested. It needs the live tenant's clients
// (Repair); a snapshot has no credentials and no reachable APIs, so nothing
// is probed.
func (p *Pipeline) ProbeConnectors(ctx context.Context, inv inventory.Inventory) ([]ConnectorProbe, error) {
	if p.Repair == nil {
		return nil, nil
	}
	var out []ConnectorProbe
	for _, c := range inv.APIConnectors {
		auth, missing := probe.Auth{}, ""
		secret := BackingSecret(p.Config, inv, inventory.Ref(inventory.KindConnector, c.ID))
		switch {
		case !p.ProbeCredentials:
			missing = "credentials are not read: turn on " + access.ProbeCredentials.Name + " (" + access.ProbeCredentials.Enable() + "; grants " + access.ProbeCredentials.KeyVaultRole + ")"
		case secret == nil:
			missing = "no Key Vault secret backs this connector (tag " + inventory.TagDependency + " or config keyVaultSecret)"
		default:
			a, err := credentialFor(ctx, p.Repair, c, *secret)
			if err != nil {
				missing = err.Error()
				p.log().Warn("connector probe without its credential", "connector", c.DisplayName, "reason", missing)
			} else {
				auth = a
			}
		}
		for _, step := range ConnectorSteps(inv, c.ID) {
			r := probe.Probe(ctx, probe.Request{URL: c.TargetURL, Step: step, Auth: auth})
			if missing != "" {
				r = probe.WithoutCredential(r, missing)
			}
			out = append(out, ConnectorProbe{ConnectorID: c.ID, Name: c.DisplayName, Result: r})
		}
	}
	if p.State != nil {
		data, err := json.MarshalIndent(out, "", "  ")
		if err != nil {
			return out, err
		}
		if _, err := p.State.Put(ctx, LatestProbes, data, statestore.Condition{}); err != nil {
			return out, err
		}
	}
	return out, nil
}

func credentialFor(ctx context.Context, deps *repair.Deps, c inventory.APIConnector, s inventory.Secret) (probe.Auth, error) {
	kv := deps.Vaults[vaultHost(s.Vault)]
	if kv == nil {
		return probe.Auth{}, fmt.Errorf("vault %s is not configured", s.Vault)
	}
	got, err := kv.GetSecret(ctx, s.Name, "", nil)
	if err != nil {
		if d := access.Classify(err, access.Need{KeyVault: access.ProbeCredentials}); access.IsDenied(d) {
			return probe.Auth{}, d
		}
		return probe.Auth{}, fmt.Errorf("cannot read %s", s.Name)
	}
	if got.Value == nil {
		return probe.Auth{}, fmt.Errorf("%s has no value", s.Name)
	}
	if c.AuthType == inventory.AuthBasic {
		return probe.Auth{BasicUser: c.Username, BasicPassword: *got.Value}, nil
	}
	cert, err := probe.ClientCertificateFromBase64(*got.Value, "")
	if err != nil {
		return probe.Auth{}, err
	}
	return probe.Auth{ClientCert: cert}, nil
}

// ConnectorSteps are the steps user flows call a connector at; a connector
// no flow uses yet is probed as a post-federation sign-up call.
func ConnectorSteps(inv inventory.Inventory, id string) []probe.Step {
	seen := map[probe.Step]bool{}
	var steps []probe.Step
	add := func(s probe.Step) {
		if !seen[s] {
			seen[s] = true
			steps = append(steps, s)
		}
	}
	for _, f := range inv.UserFlows {
		if inventory.SameID(f.PostFederationSignup, id) {
			add(probe.StepPostFederationSignup)
		}
		if inventory.SameID(f.PostAttributeCollection, id) {
			add(probe.StepPostAttributeCollection)
		}
	}
	if len(steps) == 0 {
		steps = []probe.Step{probe.StepPostFederationSignup}
	}
	return steps
}
