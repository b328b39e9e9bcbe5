package main

import (
	"os"
	"path/filepath"
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

// Loyalty check is called before creating the user by B2X_1_PartnerSignUp:
// the scaffold's claims are that flow's attributes as Entra sends them —
// its custom attribute as extension_<appId>_<Name>, city marked optional —
// one scenario per answer (continue, validation error, block).
func TestProbeConnectorScaffoldsFromTheFlowsAttributes(t *testing.T) {
	code, out, errOut := runCLI(t, "probe", "connector", "a3b1c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b", "--snapshot", exampleSnapshot, "--config", exampleConfig, "--scaffold-scenarios")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	scs, err := probe.ParseScenarios("scaffold.yaml", []byte(out))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(scs) != 3 || scs[0].Expect != probe.Continue || scs[1].Expect != probe.ValidationError || scs[2].Expect != probe.Block {
		t.Fatalf("%+v", scs)
	}
	const custom = "extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_PartnerNumber"
	for _, sc := range scs {
		if sc.Step != probe.StepPostAttributeCollection || sc.Claims[custom] == nil || sc.Claims["postalCode"] != "12345" || sc.Claims["city"] == nil {
			t.Errorf("%s: claims %v", sc.Name, sc.Claims)
		}
		// The flow collects no job title or street address.
		if sc.Claims["jobTitle"] != nil || sc.Claims["streetAddress"] != nil {
			t.Errorf("%s: claims the flow does not collect: %v", sc.Name, sc.Claims)
		}
	}
	for _, want := range []string{
		"city: Example City  # optional: not sent when left empty",
		custom + `: example partner number  # custom attribute "Partner number"`,
		"The claims are the attributes the flow collects (userAttributeAssignments).",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("scaffold lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "could not be read") {
		t.Errorf("the example's attributes were read, the file says otherwise:\n%s", out)
	}
}

// A snapshot recorded before the attribute assignments were read (or a
// tenant that refuses them) replays them as a 404: a gap for each flow, and
// the scaffold falls back to the claims Entra documents and says so.
func TestProbeConnectorScaffoldFallsBackWithoutAttributes(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(exampleSnapshot)); err != nil {
		t.Fatal(err)
	}
	removed, _ := filepath.Glob(filepath.Join(dir, "responses", "*_userAttributeAssignments-*.json"))
	if len(removed) == 0 {
		t.Fatal("the example snapshot records no userAttributeAssignments")
	}
	for _, f := range removed {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	code, out, errOut := runCLI(t, "probe", "connector", "Loyalty check", "--snapshot", dir, "--config", exampleConfig, "--scaffold-scenarios")
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	scs, err := probe.ParseScenarios("scaffold.yaml", []byte(out))
	if err != nil || len(scs) != 3 {
		t.Fatalf("%v %d\n%s", err, len(scs), out)
	}
	if !strings.Contains(out, "Its attributes could not be read") || scs[0].Claims["jobTitle"] == nil ||
		scs[0].Claims["extension_3f2a9c1e7b6d4e0a8c5f1d2b3a4e5f60_PartnerNumber"] != nil {
		t.Errorf("fallback scaffold:\n%s", out)
	}
}
