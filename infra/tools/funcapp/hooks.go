package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

// The azd environment variables the hooks read and write (azure.yaml,
// infra/main.parameters.json).
const (
	envPhase         = "IDPKEEPER_DEPLOY_PHASE"  // initial | complete (parameter deployPhase)
	envAckURL        = "IDPKEEPER_ACK_URL"       // parameter ackUrl
	envAckKey        = "IDPKEEPER_ACK_KEY"       // parameter ackLinkKey
	envReportURL     = "IDPKEEPER_REPORT_URL"    // parameter reportUrl
	envVaultSalt     = "IDPKEEPER_KEYVAULT_SALT" // parameter keyVaultNameSalt
	envExistingVault = "IDPKEEPER_EXISTING_KEYVAULT_NAME"
	envGrantGraph    = "IDPKEEPER_GRANT_GRAPH_PERMISSIONS"
	phaseInitial     = "initial"
	phaseComplete    = "complete"
)

// Bicep outputs azd puts in the environment of hooks.
const (
	outResourceGroup = "resourceGroupName"
	outFunctionApp   = "functionAppName"
	outFunctionURL   = "functionAppUrl"
	outVaultName     = "keyVaultName"
	outPrincipalID   = "managedIdentityPrincipalId"
	outVaultRetain   = "keyVaultSoftDeleteRetentionDays"
	outVaultPurgeLck = "keyVaultPurgeProtection"
)

type env interface{ Get(key string) string }

type osEnv struct{}

func (osEnv) Get(key string) string { return os.Getenv(key) }

// runner runs the azd and az command lines.
type runner interface {
	Run(ctx context.Context, name string, args ...string) error
	Output(ctx context.Context, name string, args ...string) (string, error)
	Has(name string) bool
}

type execRunner struct{ stdout, stderr io.Writer }

func (r execRunner) Run(ctx context.Context, name string, args ...string) error {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	return cmd.Run()
}

func (r execRunner) Output(ctx context.Context, name string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	return strings.TrimSpace(string(out)), err
}

func (execRunner) Has(name string) bool { _, err := exec.LookPath(name); return err == nil }

// provisionAttempts and provisionWait bound the second provision's retries:
// a managed identity created minutes earlier may not have replicated to
// Microsoft Graph yet (microsoftgraph/msgraph-bicep-types#193), which fails
// its app-role grants until it has.
var (
	provisionAttempts = 3
	provisionWait     = func(attempt int) { time.Sleep(time.Duration(attempt) * time.Minute) }
)

// postdeploy is azure.yaml's postdeploy hook. Parts of the deployment can
// only be made once the code runs:
//   - the Event Grid subscription Key Vault → KeyVaultEvents (Event Grid
//     validates an AzureFunction endpoint when the subscription is created),
//     and the Microsoft Graph app-role grants of the managed identity
//     (created minutes earlier by the first provision, now replicated): both
//     are made by a second provision with deployPhase=complete;
//   - the links notices carry: IDPKEEPER_ACK_URL, the Ack function's URL
//     without any key (the Ack function is anonymous; each link is signed
//     with IDPKEEPER_ACK_KEY, which this hook generates once — 32 bytes from
//     crypto/rand — and the provision stores in Key Vault), and
//     IDPKEEPER_REPORT_URL, the Report page with its function key (the key
//     exists once the host has started), which only notices to owners
//     inside the organisation carry.
//
// The second provision is retried; when it keeps failing the hook fails
// with exactly what to re-run.
func postdeploy(ctx context.Context, e env, r runner, stdout io.Writer) error {
	changed := false
	set := func(key, value string) error {
		if err := r.Run(ctx, "azd", "env", "set", key, value); err != nil {
			return err
		}
		changed = true
		return nil
	}
	appURL := strings.TrimRight(e.Get(outFunctionURL), "/")
	if want := appURL + "/api/ack"; appURL != "" && e.Get(envAckURL) != want {
		// Also replaces the key-carrying URL earlier versions set.
		if err := set(envAckURL, want); err != nil {
			return err
		}
	}
	if e.Get(envAckKey) == "" {
		key, err := newAckKey()
		if err != nil {
			return err
		}
		if err := set(envAckKey, key); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "postdeploy: generated the acknowledgement link key ("+envAckKey+"); the provision stores it in Key Vault as idpkeeper-ack-key")
	}
	if e.Get(envReportURL) == "" {
		switch {
		case !r.Has("az"):
			fmt.Fprintln(stdout, "postdeploy: Azure CLI (az) not found: set "+envReportURL+" yourself (docs/deploy.md) to link notices to the report")
		default:
			key, err := r.Output(ctx, "az", "functionapp", "function", "keys", "list",
				"--resource-group", e.Get(outResourceGroup), "--name", e.Get(outFunctionApp),
				"--function-name", "Report", "--query", "default", "--output", "tsv")
			if err != nil || key == "" {
				fmt.Fprintln(stdout, "postdeploy: no function key for Report yet; "+envReportURL+" stays empty (run `azd deploy` again later)")
			} else if err := set(envReportURL, appURL+"/api/report?format=html&code="+key); err != nil {
				return err
			}
		}
	}
	if e.Get(envPhase) != phaseComplete {
		if err := set(envPhase, phaseComplete); err != nil {
			return err
		}
	}
	if !changed {
		fmt.Fprintln(stdout, "postdeploy: nothing to do (deployPhase complete, the links set)")
		return nil
	}
	var err error
	for attempt := 1; attempt <= provisionAttempts; attempt++ {
		fmt.Fprintf(stdout, "postdeploy: provisioning the second phase (Key Vault event subscription, Graph app roles, the notice links and their key), attempt %d of %d\n", attempt, provisionAttempts)
		if err = r.Run(ctx, "azd", "provision", "--no-prompt"); err == nil {
			fmt.Fprintln(stdout, "postdeploy: done")
			return nil
		}
		if attempt < provisionAttempts {
			fmt.Fprintf(stdout, "postdeploy: the provision failed (%v); a new managed identity can take minutes to reach Microsoft Graph — retrying in %d min\n", err, attempt)
			provisionWait(attempt)
		}
	}
	return errors.New(secondPhaseFailure(e, err))
}

// newAckKey returns 32 random bytes, base64: the acknowledgement link key
// (shared/acklink.MinKeyBytes).
func newAckKey() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// secondPhaseFailure says exactly what to do when the second provision
// keeps failing.
func secondPhaseFailure(e env, err error) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the second provision failed %d times (last: %v); the deployment's error is printed above.\n", provisionAttempts, err)
	b.WriteString("The code is deployed and scans run; missing is the Key Vault event subscription and/or the Graph app roles.\n")
	b.WriteString("Re-run:  azd provision        (" + envPhase + " is already " + phaseComplete + ")\n")
	b.WriteString("  - \"does not exist\" / \"principal … not found\": the managed identity has not replicated to Microsoft Graph yet; wait a few minutes, then re-run.\n")
	b.WriteString("  - Authorization_RequestDenied / Forbidden on appRoleAssignedTo: you cannot grant Graph application permissions. Run\n")
	b.WriteString("      azd env set " + envGrantGraph + " false && azd provision\n")
	fmt.Fprintf(&b, "    and have a Privileged Role Administrator run  infra/scripts/grant-graph-permissions.sh %s\n", orPlaceholder(e.Get(outPrincipalID), "<managedIdentityPrincipalId>"))
	return b.String()
}

func orPlaceholder(v, p string) string {
	if v == "" {
		return p
	}
	return v
}

// postdown is azure.yaml's postdown hook: it makes the next `azd up` in this
// environment work.
//   - deployPhase back to initial and the links cleared: the next app and
//     identity are new (the event subscription and the Graph grants wait for
//     the code and the identity again); the next deploy makes a new link
//     key (the old one went with the vault) and reads the new Report key.
//   - a new vault name salt, when infra created the vault: `azd down` only
//     soft-deletes a Key Vault, and with purge protection its name stays
//     taken for the retention period (7–90 days; Azure/azure-cli#29115), so
//     the next provision would fail on the old name. The old vault stays
//     recoverable until then; the hook says how.
func postdown(ctx context.Context, e env, r runner, stdout io.Writer) error {
	for _, kv := range [][2]string{{envPhase, phaseInitial}, {envAckURL, ""}, {envAckKey, ""}, {envReportURL, ""}} {
		if err := r.Run(ctx, "azd", "env", "set", kv[0], kv[1]); err != nil {
			return err
		}
	}
	if e.Get(envExistingVault) != "" {
		fmt.Fprintf(stdout, "postdown: your own vault %s was not touched; the next azd up uses it again\n", e.Get(envExistingVault))
		return nil
	}
	salt, err := newSalt(e.Get(envVaultSalt))
	if err != nil {
		return err
	}
	if err := r.Run(ctx, "azd", "env", "set", envVaultSalt, salt); err != nil {
		return err
	}
	fmt.Fprint(stdout, purgeStory(e))
	return nil
}

// newSalt returns 8 random hex digits, different from old.
func newSalt(old string) (string, error) {
	for {
		b := make([]byte, 4)
		if _, err := rand.Read(b); err != nil {
			return "", err
		}
		if s := hex.EncodeToString(b); s != old {
			return s, nil
		}
	}
}

func purgeStory(e env) string {
	name := orPlaceholder(e.Get(outVaultName), "<keyVaultName>")
	days := orPlaceholder(e.Get(outVaultRetain), "90")
	var b strings.Builder
	fmt.Fprintf(&b, "postdown: Key Vault %s is soft-deleted, not gone: it keeps its secrets for %s days.\n", name, days)
	b.WriteString("  The next azd up creates a vault with a new name (" + envVaultSalt + " changed), so it does not collide with it.\n")
	fmt.Fprintf(&b, "  To get the old vault back instead: az keyvault recover --name %s, then azd env set %s %s before azd up.\n", name, envExistingVault, name)
	if strings.EqualFold(e.Get(outVaultPurgeLck), "false") {
		fmt.Fprintf(&b, "  Purge protection is off: az keyvault purge --name %s frees the name at once (its secrets are lost).\n", name)
	} else {
		b.WriteString("  Purge protection is on: nobody can purge it before the retention period ends; it is not billed meanwhile.\n")
	}
	return b.String()
}
