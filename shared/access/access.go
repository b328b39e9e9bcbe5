// Package access says which grant each part of IdP Keeper needs, and turns a
// 403 from Key Vault, Microsoft Graph or Blob Storage into an error that
// names the missing grant.
//
// A 403 is not a hiccup: the identity lacks a role or an application
// permission, and every retry gets the same answer. Service Bus would
// redeliver the job five times in a row and then dead-letter it with a reason
// ("MaxDeliveryCountExceeded") that hides the cause. A [Denied] error
// therefore declares itself permanent (jobs.IsPermanent recognises it), so
// the job is parked at once with a reason of the form
//
//	Key Vault refused the request (HTTP 403 ForbiddenByRbac) on contoso-idp-kv.vault.azure.net:
//	grant "Key Vault Secrets Officer" on vault contoso-idp-kv to the app's managed identity
//	(azd env set IDPKEEPER_ENABLE_REPAIR true, then azd provision)
//
// which `idpkeeper jobs dead-letters` shows.
//
// # Who needs what
//
// The features and their grants are listed once, in [Features]; infra grants
// a role only when its feature is switched on, and the code reads a secret
// value only in the files [ValueReaders] names, each gated by its feature
// (shared/consistency checks the three agree: roles granted ⇔ features
// enabled ⇔ calls made).
//
// One secret is read by the platform rather than the code: the key that
// signs acknowledgement links (shared/acklink), Key Vault secret
// idpkeeper-ack-key, which the app setting IDPKEEPER_ACK_KEY references.
// infra/modules/ackkey.bicep grants the app's identity Key Vault Secrets
// User on that one secret, whatever the features (TestAckLinkKey).
package access

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
)

// Feature is a part of IdP Keeper that needs more than reading.
type Feature struct {
	// Name as operators see it.
	Name string
	// KeyVaultRole is the Key Vault data-plane role the feature needs on
	// the vault ("" for none beyond Key Vault Reader).
	KeyVaultRole string
	// GraphPermissions are the Microsoft Graph application permissions
	// the feature needs beyond the scan's read permissions.
	GraphPermissions []string
	// Setting is the app setting that switches the feature on in the code.
	Setting string
	// InfraParam is the infra/main.bicep parameter that switches it on
	// (grants and app setting together), and AzdEnv the azd environment
	// variable that sets the parameter.
	InfraParam string
	AzdEnv     string
}

// Enable says how to switch the feature on with azd.
func (f Feature) Enable() string {
	if f.AzdEnv == "" {
		return ""
	}
	return "azd env set " + f.AzdEnv + " true, then azd provision"
}

// The features. Scan is what every deployment has: Key Vault Reader (secret
// properties, never values) and the read permissions of
// shared/tenant.GraphPermissions.
var (
	Scan = Feature{Name: "scan", KeyVaultRole: "Key Vault Reader"}

	// ProbeCredentials lets the scheduled API connector probes read each
	// connector's password or client certificate: a secret value read with
	// no write after it, hence its own switch and the narrowest role that
	// reads values.
	ProbeCredentials = Feature{
		Name: "connector probes with credentials", KeyVaultRole: "Key Vault Secrets User",
		Setting: "IDPKEEPER_PROBE_CREDENTIALS", InfraParam: "enableProbeCredentials", AzdEnv: "IDPKEEPER_ENABLE_PROBE_CREDENTIALS",
	}

	// Repair lets jobs write: new secret versions and tags (Key Vault
	// Secrets Officer, which also reads the value about to be applied) and
	// the tenant's identity providers and API connectors.
	Repair = Feature{
		Name: "repair", KeyVaultRole: "Key Vault Secrets Officer",
		GraphPermissions: []string{"IdentityProvider.ReadWrite.All", "APIConnectors.ReadWrite.All"},
		Setting:          "IDPKEEPER_APPLY", InfraParam: "enableRepair", AzdEnv: "IDPKEEPER_ENABLE_REPAIR",
	}

	// MailNotices sends notices with Graph sendMail.
	MailNotices = Feature{
		Name: "mail notices", GraphPermissions: []string{"Mail.Send"},
		Setting: "IDPKEEPER_NOTICE_MAILBOX", InfraParam: "graphMailSend", AzdEnv: "IDPKEEPER_GRAPH_MAIL_SEND",
	}
)

// OperatorProbe is `idpkeeper probe connector ID`: an operator asks, with
// their own sign-in (az login), to probe one connector with its credential.
// The app's identity is not involved, so no infra switch: the operator
// needs Key Vault Secrets User on the vault themselves.
var OperatorProbe = Feature{Name: "probe connector command (the operator's own sign-in)", KeyVaultRole: "Key Vault Secrets User"}

// Features lists them.
var Features = []Feature{Scan, ProbeCredentials, Repair, MailNotices, OperatorProbe}

// ValueReaders are the only non-test Go files that read a secret value
// (azsecrets GetSecret), with the feature whose switch gates each read. A
// scan, a dry run and an event never read one.
var ValueReaders = map[string]Feature{
	"functions/cmd_probe.go":         OperatorProbe,
	"shared/pipeline/probes.go":      ProbeCredentials,
	"shared/repair/social.go":        Repair,
	"shared/repair/connector.go":     Repair,
	"shared/repair/staged/staged.go": Repair,
}

// Need is what a caller knows it needs for the calls it is about to make.
type Need struct {
	// KeyVault is the feature whose Key Vault role the calls need.
	KeyVault Feature
	// Graph is the application permission the calls need ("" when a
	// Graph 403 is not expected), and GraphFeature the switch granting it.
	Graph        string
	GraphFeature Feature
}

// Denied is a 403: the app's identity may not do what it tried. It is
// permanent: retrying gets the same answer until someone grants Grant on On.
type Denied struct {
	Service string // "Key Vault", "Microsoft Graph", "Blob Storage"
	Host    string // the host that answered, when known
	Status  int
	Code    string // the service's error code, when it gave one
	Grant   string // the role or application permission to grant
	On      string // where to grant it
	Enable  string // how to switch the feature on, when a switch exists
	err     error
}

func (d *Denied) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s refused the request (HTTP %d", d.Service, d.Status)
	if d.Code != "" {
		b.WriteString(" " + d.Code)
	}
	b.WriteString(")")
	if d.Host != "" {
		b.WriteString(" on " + d.Host)
	}
	fmt.Fprintf(&b, ": grant %q on %s to the app's managed identity", d.Grant, d.On)
	if d.Enable != "" {
		b.WriteString(" (" + d.Enable + ")")
	}
	return b.String()
}

// Unwrap returns the service's error.
func (d *Denied) Unwrap() error { return d.err }

// Permanent implements jobs.PermanentError: a 403 does not go away by itself.
func (d *Denied) Permanent() bool { return true }

// IsDenied reports whether err is, or wraps, a *Denied.
func IsDenied(err error) bool {
	var d *Denied
	return errors.As(err, &d)
}

// Classify returns err unchanged unless it is (or wraps) an HTTP 403 from
// Key Vault, Blob Storage or Microsoft Graph; then it returns a *Denied that
// wraps err and names the grant need asks for.
func Classify(err error, need Need) error {
	if err == nil || IsDenied(err) {
		return err
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) && re.StatusCode == http.StatusForbidden {
		host := ""
		if re.RawResponse != nil && re.RawResponse.Request != nil && re.RawResponse.Request.URL != nil {
			host = re.RawResponse.Request.URL.Hostname()
		}
		switch {
		case strings.Contains(host, ".blob."):
			account, _, _ := strings.Cut(host, ".")
			return &Denied{Service: "Blob Storage", Host: host, Status: re.StatusCode, Code: re.ErrorCode,
				Grant: "Storage Blob Data Owner", On: "storage account " + account, err: err}
		default:
			f := need.KeyVault
			if f.KeyVaultRole == "" {
				f = Scan
			}
			vault, _, _ := strings.Cut(host, ".")
			on := "the vault"
			if vault != "" {
				on = "vault " + vault
			}
			return &Denied{Service: "Key Vault", Host: host, Status: re.StatusCode, Code: re.ErrorCode,
				Grant: f.KeyVaultRole, On: on, Enable: f.Enable(), err: err}
		}
	}
	var oe *odataerrors.ODataError
	if errors.As(err, &oe) && oe.ResponseStatusCode == http.StatusForbidden {
		code := ""
		if e := oe.GetErrorEscaped(); e != nil && e.GetCode() != nil {
			code = *e.GetCode()
		}
		grant := need.Graph
		if grant == "" {
			grant = "the Microsoft Graph application permission this call needs (README: Against a live tenant)"
		}
		return &Denied{Service: "Microsoft Graph", Host: "graph.microsoft.com", Status: oe.ResponseStatusCode, Code: code,
			Grant: grant, On: "Microsoft Graph (application permission, admin consent)", Enable: need.GraphFeature.Enable(), err: err}
	}
	return err
}
