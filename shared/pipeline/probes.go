package pipeline

import (
	"context"
	"fmt"

	"github.com/idpkeeper/idpkeeper/shared/access"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/repair"
)

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
