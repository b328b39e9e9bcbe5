package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/security/keyvault/azsecrets"

	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/pipeline"
	"github.com/idpkeeper/idpkeeper/shared/probe"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

func runProbe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "api":
			return probe.APICommand(ctx, args[1:], stdout, stderr, os.Getenv)
		case "connector":
			return runProbeConnector(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintln(stderr, "Usage: idpkeeper probe api URL [--basic-user U --basic-password-env VAR | --client-cert FILE.pfx --client-cert-password-env VAR] [--step postFederationSignup|postAttributeCollection] [--timeout D] [--format json]")
	fmt.Fprintln(stderr, "       idpkeeper probe api URL --scenarios FILE [--basic-user U --basic-password-env VAR | --client-cert FILE.pfx --client-cert-password-env VAR] [--timeout D] [--format json]")
	fmt.Fprintln(stderr, "       idpkeeper probe connector ID [--snapshot DIR] [--config FILE] [--format json] [--scaffold-scenarios]")
	return exitUsage
}

// runProbeConnector probes an API connector with its configured
// authentication, for each user flow step it serves. The credential is read
// from the Key Vault secret that backs the connector (tag or config) and
// used for the request only.
func runProbeConnector(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("probe connector", flag.ContinueOnError)
	fs.SetOutput(stderr)
	tf := addTenantFlags(fs)
	format := fs.String("format", "text", "text or json")
	scaffold := fs.Bool("scaffold-scenarios", false, "write a starting scenario file for `probe api URL --scenarios FILE` (from the user flows that call the connector) instead of probing")
	id, rest := splitPositional(args)
	if err := fs.Parse(rest); err != nil {
		return usageCode(err)
	}
	if id == "" && fs.NArg() == 1 {
		id = fs.Arg(0)
	}
	if id == "" || (*format != "text" && *format != "json") {
		fmt.Fprintln(stderr, "Usage: idpkeeper probe connector ID [--snapshot DIR] [--config FILE] [--format json] [--scaffold-scenarios]")
		return exitUsage
	}
	in, code := tf.load(ctx, "probe connector", stderr)
	if code != exitOK {
		return code
	}
	t, err := scan.OpenContext(ctx, in.Config, in.Source)
	if err != nil {
		fmt.Fprintf(stderr, "probe connector: %v\n", err)
		return exitRead
	}
	inv, err := t.Reader.Read(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "probe connector: %v\n", err)
		return exitRead
	}
	var conn *inventory.APIConnector
	for i := range inv.APIConnectors {
		c := &inv.APIConnectors[i]
		if inventory.SameID(c.ID, id) || strings.EqualFold(c.DisplayName, id) {
			conn = c
		}
	}
	if conn == nil {
		fmt.Fprintf(stderr, "probe connector: no API connector %q\n", id)
		return exitUsage
	}
	if *scaffold {
		stdout.Write(scaffoldScenarios(inv, *conn))
		return exitOK
	}
	auth, warning := connectorAuth(ctx, in, inv, *conn)
	if warning != "" {
		fmt.Fprintln(stderr, "warning: "+warning)
	}
	steps := pipeline.ConnectorSteps(inv, conn.ID)
	worst := exitOK
	enc := json.NewEncoder(stdout)
	// The target URL comes from the tenant: the request goes through the
	// network guard (public addresses, or the connector's
	// watch.allowNetworks), as the scheduled checks do.
	var policy netguard.Policy
	if d := in.Config.Dependency(inventory.Ref(inventory.KindConnector, conn.ID)); d != nil {
		policy = d.Watch.Policy()
	}
	client := netguard.NewClient(netguard.Options{Policy: policy, MaxRedirects: -1})
	for _, step := range steps {
		res := probe.Probe(ctx, probe.Request{URL: conn.TargetURL, Step: step, Auth: auth, Client: client})
		if *format == "json" {
			enc.Encode(res)
		} else {
			fmt.Fprintf(stdout, "%s — %s\n", conn.DisplayName, step)
			probe.WriteText(stdout, res)
		}
		if !res.WellFormed() {
			worst = exitFindings
		}
	}
	return worst
}

// connectorAuth reads the credential of the connector from the Key Vault
// secret that backs it. A snapshot holds no secret values, so a snapshot
// probe goes without credentials (and says so).
func connectorAuth(ctx context.Context, in tenantInputs, inv inventory.Inventory, c inventory.APIConnector) (probe.Auth, string) {
	if c.AuthType == inventory.AuthUnknown {
		return probe.Auth{}, ""
	}
	if in.SnapshotDir != "" {
		return probe.Auth{BasicUser: c.Username}, "a snapshot holds no secret values: probing without the connector's credential"
	}
	secret := pipeline.BackingSecret(in.Config, inv, inventory.Ref(inventory.KindConnector, c.ID))
	if secret == nil {
		return probe.Auth{BasicUser: c.Username}, "no Key Vault secret backs connector " + c.DisplayName + " (tag idpkeeper-dependency or config keyVaultSecret): probing without its credential"
	}
	cloud, err := scan.CloudOf(in.Config)
	if err != nil {
		return probe.Auth{}, err.Error()
	}
	clients, err := tenant.NewClients(in.Source.Credential, tenant.ClientOptions{KeyVaultURLs: []string{secret.Vault}, Cloud: cloud})
	if err != nil {
		return probe.Auth{}, err.Error()
	}
	got, err := clients.Vaults[0].Client.GetSecret(ctx, secret.Name, secret.Version, &azsecrets.GetSecretOptions{})
	if err != nil || got.Value == nil {
		return probe.Auth{BasicUser: c.Username}, "cannot read " + secret.Name + " from Key Vault (needs Key Vault Secrets User): probing without the credential"
	}
	if c.AuthType == inventory.AuthBasic {
		return probe.Auth{BasicUser: c.Username, BasicPassword: *got.Value}, ""
	}
	cert, err := probe.ClientCertificateFromBase64(*got.Value, "")
	if err != nil {
		return probe.Auth{}, "the certificate in " + secret.Name + " does not open: probing without it"
	}
	return probe.Auth{ClientCert: cert}, ""
}

// scaffoldScenarios is the starting scenario file for connector c: one
// scenario per answer Entra takes at each step a user flow calls it at,
// with the claims that flow's attributes make.
func scaffoldScenarios(inv inventory.Inventory, c inventory.APIConnector) []byte {
	var uses []probe.ScaffoldUse
	for _, f := range inv.UserFlows {
		attrs := scaffoldAttributes(f.UserAttributes)
		if inventory.SameID(f.PostFederationSignup, c.ID) {
			uses = append(uses, probe.ScaffoldUse{UserFlow: f.ID, Step: probe.StepPostFederationSignup, Attributes: attrs, AttributesKnown: f.UserAttributesRead})
		}
		if inventory.SameID(f.PostAttributeCollection, c.ID) {
			uses = append(uses, probe.ScaffoldUse{UserFlow: f.ID, Step: probe.StepPostAttributeCollection, Attributes: attrs, AttributesKnown: f.UserAttributesRead})
		}
	}
	target := watch.DisplayURL(c.TargetURL)
	if u, err := url.Parse(c.TargetURL); err == nil && u.RawQuery != "" {
		target += "?…" // the query (often a function key) is left for you to add
	}
	run := "idpkeeper probe api '" + target + "' --scenarios FILE"
	switch c.AuthType {
	case inventory.AuthBasic:
		run += " --basic-user " + c.Username + " --basic-password-env PASSWORD_VAR"
	case inventory.AuthCertificate:
		run += " --client-cert CERT.pfx --client-cert-password-env PFX_PASSWORD_VAR"
	}
	return probe.Scaffold(c.DisplayName+" ("+c.ID+")", uses, run)
}

// scaffoldAttributes turns a flow's attribute assignments into what the
// scaffold needs: a choice's options with the default first.
func scaffoldAttributes(in []inventory.UserFlowAttribute) []probe.ScaffoldAttribute {
	out := make([]probe.ScaffoldAttribute, 0, len(in))
	for _, a := range in {
		sa := probe.ScaffoldAttribute{
			ID: a.ID, DisplayName: a.DisplayName, Optional: a.Optional,
			InputType: a.InputType, DataType: a.DataType, Custom: a.AttributeType == "custom",
		}
		for _, v := range a.Values {
			if v.IsDefault {
				sa.Options = append([]string{v.Value}, sa.Options...)
			} else {
				sa.Options = append(sa.Options, v.Value)
			}
		}
		out = append(out, sa)
	}
	return out
}
