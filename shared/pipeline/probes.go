package pipeline

import (
	"context"
	"encoding/json"
	"fmt"

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
// connector, for each step user flows call it at, with its configured
// credential (read from the backing Key Vault secret for the request only),
// and stores the results. It needs the live tenant's clients (Repair); a
// snapshot has no credentials and no reachable APIs, so nothing is probed.
func (p *Pipeline) ProbeConnectors(ctx context.Context, inv inventory.Inventory) ([]ConnectorProbe, error) {
	if p.Repair == nil {
		return nil, nil
	}
	var out []ConnectorProbe
	for _, c := range inv.APIConnectors {
		auth := probe.Auth{BasicUser: c.Username}
		if secret := BackingSecret(p.Config, inv, inventory.Ref(inventory.KindConnector, c.ID)); secret != nil {
			if a, err := credentialFor(ctx, p.Repair, c, *secret); err == nil {
				auth = a
			} else {
				p.log().Warn("connector probe without its credential", "connector", c.DisplayName, "reason", err.Error())
			}
		}
		for _, step := range ConnectorSteps(inv, c.ID) {
			r := probe.Probe(ctx, probe.Request{URL: c.TargetURL, Step: step, Auth: auth})
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
	if err != nil || got.Value == nil {
		return probe.Auth{}, fmt.Errorf("cannot read %s", s.Name)
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
