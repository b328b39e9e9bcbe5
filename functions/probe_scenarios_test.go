package main

import (
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/probe"
)

// `probe connector ID --scaffold-scenarios` writes a starting file from the
// user flows that call the connector: one scenario per answer Entra takes
// at each of their steps, ready for `probe api URL --scenarios FILE`.
func TestProbeConnectorScaffoldsScenarios(t *testing.T) {
	code, out, errOut := runCLI(t, "probe", "connector", "Partner registry", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--scaffold-scenarios")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	scs, err := probe.ParseScenarios("scaffold.yaml", []byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// Partner registry is called after federation by B2X_1_PartnerSignUp:
	// continue and block (no form for a validation error there).
	if len(scs) != 2 || scs[0].Step != probe.StepPostFederationSignup || scs[0].Expect != probe.Continue || scs[1].Expect != probe.Block {
		t.Errorf("%+v", scs)
	}
	for _, want := range []string{"B2X_1_PartnerSignUp at postFederationSignup", "--client-cert CERT.pfx", "https://registry.contoso.example/api/signup"} {
		if !strings.Contains(out, want) {
			t.Errorf("scaffold lacks %q:\n%s", want, out)
		}
	}
}
