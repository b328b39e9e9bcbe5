package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

type mapEnv map[string]string

func (m mapEnv) Get(k string) string { return m[k] }

// cliRecorder stands in for the azd and az command lines (which cannot run
// here): it records each command line and answers from a script.
type cliRecorder struct {
	ran       []string
	az        bool
	ackKey    string
	provision []error // results of successive `azd provision` runs
}

func (c *cliRecorder) Run(_ context.Context, name string, args ...string) error {
	line := name + " " + strings.Join(args, " ")
	c.ran = append(c.ran, line)
	if strings.HasPrefix(line, "azd provision") && len(c.provision) > 0 {
		err := c.provision[0]
		c.provision = c.provision[1:]
		return err
	}
	return nil
}

func (c *cliRecorder) Output(_ context.Context, name string, args ...string) (string, error) {
	c.ran = append(c.ran, name+" "+strings.Join(args, " "))
	return c.ackKey, nil
}

func (c *cliRecorder) Has(name string) bool { return name != "az" || c.az }

func deployed() mapEnv {
	return mapEnv{outResourceGroup: "rg-prod", outFunctionApp: "func-idpkeeper-abc", outFunctionURL: "https://func-idpkeeper-abc.azurewebsites.net",
		outPrincipalID: "11111111-2222-3333-4444-555555555555", outVaultName: "kv-idpk-abc", outVaultRetain: "90", outVaultPurgeLck: "true"}
}

func TestPostdeployFirstTimeCompletesTheDeployment(t *testing.T) {
	provisionWait = func(int) {}
	c := &cliRecorder{az: true, ackKey: "REPORTKEY"}
	var out bytes.Buffer
	if err := postdeploy(context.Background(), deployed(), c, &out); err != nil {
		t.Fatal(err)
	}
	if len(c.ran) != 6 {
		t.Fatalf("ran:\n%s", strings.Join(c.ran, "\n"))
	}
	want := []string{
		// The Ack link carries no key: the function is anonymous.
		"azd env set IDPKEEPER_ACK_URL https://func-idpkeeper-abc.azurewebsites.net/api/ack",
		"", // the link key, checked below
		"az functionapp function keys list --resource-group rg-prod --name func-idpkeeper-abc --function-name Report --query default --output tsv",
		"azd env set IDPKEEPER_REPORT_URL https://func-idpkeeper-abc.azurewebsites.net/api/report?format=html&code=REPORTKEY",
		"azd env set IDPKEEPER_DEPLOY_PHASE complete",
		"azd provision --no-prompt",
	}
	for i, w := range want {
		if w != "" && c.ran[i] != w {
			t.Errorf("command %d: %q, want %q", i, c.ran[i], w)
		}
	}
	key, ok := strings.CutPrefix(c.ran[1], "azd env set IDPKEEPER_ACK_KEY ")
	if raw, err := base64.StdEncoding.DecodeString(key); !ok || err != nil || len(raw) != 32 {
		t.Errorf("link key command %q: want 32 random bytes, base64", c.ran[1])
	}
	if strings.Contains(out.String(), key) {
		t.Error("the hook printed the link key")
	}
	for _, l := range c.ran {
		if strings.Contains(l, "function-name Ack") || strings.Contains(l, "/api/ack?code=") {
			t.Errorf("the Ack function's key is read or put in a link: %s", l)
		}
	}

	// Later deploys (azd deploy, azd up again) find everything set.
	done := deployed()
	done[envAckURL], done[envAckKey], done[envReportURL], done[envPhase] = "https://func-idpkeeper-abc.azurewebsites.net/api/ack", key, "https://x/api/report?format=html&code=K", phaseComplete
	c = &cliRecorder{az: true}
	if err := postdeploy(context.Background(), done, c, &out); err != nil || len(c.ran) != 0 {
		t.Errorf("second run: %v %v", c.ran, err)
	}

	// An earlier version's Ack URL with the function key is replaced by the
	// keyless one, and the key generated: links stop carrying the key.
	old := deployed()
	old[envAckURL], old[envReportURL], old[envPhase] = "https://func-idpkeeper-abc.azurewebsites.net/api/ack?code=FUNCKEY", "https://x/api/report?format=html&code=K", phaseComplete
	c = &cliRecorder{az: true}
	if err := postdeploy(context.Background(), old, c, &out); err != nil {
		t.Fatal(err)
	}
	ran := strings.Join(c.ran, "\n")
	if !strings.Contains(ran, "azd env set IDPKEEPER_ACK_URL https://func-idpkeeper-abc.azurewebsites.net/api/ack\n") ||
		!strings.Contains(ran, "azd env set IDPKEEPER_ACK_KEY ") || !strings.HasSuffix(ran, "azd provision --no-prompt") {
		t.Errorf("upgrade ran:\n%s", ran)
	}
}

// The Graph grant targets an identity created minutes earlier: the second
// provision is retried, and when it keeps failing the hook fails saying
// exactly what to re-run.
func TestPostdeployRetriesAndSaysWhatToRerun(t *testing.T) {
	waits := 0
	provisionWait = func(int) { waits++ }
	replication := errors.New("exit status 1")
	c := &cliRecorder{az: false, provision: []error{replication, nil}}
	var out bytes.Buffer
	if err := postdeploy(context.Background(), deployed(), c, &out); err != nil || waits != 1 {
		t.Fatalf("a provision that succeeds on the second attempt: %v, %d waits", err, waits)
	}
	if !strings.Contains(out.String(), "az) not found") {
		t.Errorf("without az the hook does not say so: %s", out.String())
	}

	c = &cliRecorder{az: true, ackKey: "KEY", provision: []error{replication, replication, replication}}
	err := postdeploy(context.Background(), deployed(), c, &out)
	if err == nil {
		t.Fatal("three failed provisions reported success")
	}
	for _, want := range []string{"Re-run:  azd provision", "IDPKEEPER_GRANT_GRAPH_PERMISSIONS false", "grant-graph-permissions.sh 11111111-2222-3333-4444-555555555555"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the failure does not say %q:\n%v", want, err)
		}
	}
}

// After azd down the next azd up must work: a fresh vault name (the old one
// is soft-deleted and, with purge protection, taken for 90 days), the
// deployment phase back to initial, the old Ack key forgotten.
func TestPostdownPreparesTheNextUp(t *testing.T) {
	e := deployed()
	e[envVaultSalt], e[envPhase], e[envAckURL], e[envAckKey] = "0badc0de", phaseComplete, "https://x/api/ack", "OLDKEY"
	c := &cliRecorder{}
	var out bytes.Buffer
	if err := postdown(context.Background(), e, c, &out); err != nil {
		t.Fatal(err)
	}
	ran := strings.Join(c.ran, "\n")
	if !strings.Contains(ran, "azd env set IDPKEEPER_DEPLOY_PHASE initial") || !strings.Contains(ran, "azd env set IDPKEEPER_ACK_URL ") ||
		!strings.Contains(ran, "azd env set IDPKEEPER_ACK_KEY \n") || !strings.Contains(ran, "azd env set IDPKEEPER_REPORT_URL ") {
		t.Errorf("ran:\n%s", ran)
	}
	var salt string
	for _, l := range c.ran {
		if rest, ok := strings.CutPrefix(l, "azd env set IDPKEEPER_KEYVAULT_SALT "); ok {
			salt = rest
		}
	}
	if len(salt) != 8 || salt == "0badc0de" {
		t.Errorf("new salt %q", salt)
	}
	for _, want := range []string{"kv-idpk-abc is soft-deleted", "az keyvault recover --name kv-idpk-abc", "IDPKEEPER_EXISTING_KEYVAULT_NAME kv-idpk-abc", "Purge protection is on"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the purge story does not say %q:\n%s", want, out.String())
		}
	}

	// An existing vault is the user's: its name does not change.
	e[envExistingVault] = "contoso-idp-kv"
	c = &cliRecorder{}
	if err := postdown(context.Background(), e, c, &out); err != nil || strings.Contains(strings.Join(c.ran, "\n"), envVaultSalt) {
		t.Errorf("existing vault: %v %v", c.ran, err)
	}
}

func TestBinaryNames(t *testing.T) {
	for _, c := range []struct {
		t    target
		want string
	}{{azure, "idpkeeper"}, {target{"darwin", "arm64"}, "idpkeeper"}, {target{"windows", "amd64"}, "idpkeeper.exe"}, {target{"windows", "arm64"}, "idpkeeper.exe"}} {
		if got := binaryName("idpkeeper", c.t); got != c.want {
			t.Errorf("%v: %s, want %s", c.t, got, c.want)
		}
	}
	if env := strings.Join(buildEnv(azure), " "); !strings.Contains(env, "GOOS=linux") || !strings.Contains(env, "GOARCH=amd64") || !strings.Contains(env, "CGO_ENABLED=0") {
		t.Error("the Azure build is not a static linux/amd64 build")
	}
}
