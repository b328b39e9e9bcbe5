package repair

import (
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/microsoftgraph/msgraph-sdk-go/identity"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	pkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/idpkeeper/idpkeeper/shared/statestore"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// ConnectorCertRequest asks for a new client certificate to be uploaded to
// an API connector.
type ConnectorCertRequest struct {
	ConnectorID string `json:"connectorId"`
	// Secret is the Key Vault certificate's backing secret version; its
	// value is the base64 PFX (content type application/x-pkcs12).
	Secret SecretRef `json:"secret"`
	// Password, when set, is a secret whose value opens the PFX. Key
	// Vault's own PFX files have an empty password, so it is usually nil.
	Password *SecretRef `json:"password,omitempty"`
	// Owner names the API owner for the notice text ("the API owner").
	Owner string `json:"owner,omitempty"`
}

// CertificateInfo is one entry of a connector's certificateList.
type CertificateInfo struct {
	Thumbprint string
	NotBefore  time.Time
	NotAfter   time.Time
	Active     bool
}

// ConnectorObservation is what PlanConnectorCertificate decides from.
type ConnectorObservation struct {
	Request ConnectorCertRequest
	Found   bool
	// Kind is the connector's authentication type ("clientCertificate",
	// "basic", ...).
	Kind         string
	Certificates []CertificateInfo
	// NewThumbprint is the SHA-1 thumbprint (upper-case hex, as Entra
	// shows it) of the certificate in the PFX; NewNotBefore/After its
	// validity. PFXError is set when the PFX did not open.
	NewThumbprint string
	NewNotBefore  time.Time
	NewNotAfter   time.Time
	PFXError      string
	Journal       *Entry
	Now           time.Time
}

// ConnectorPlanID is the plan (and journal) ID of uploading ref to a
// connector.
func ConnectorPlanID(connectorID string, ref SecretRef) string {
	return planID("cert", connectorID, vaultHost(ref.Vault), ref.Name, ref.Version)
}

// PlanConnectorCertificate decides whether to upload. Pure.
func PlanConnectorCertificate(o ConnectorObservation) Plan {
	req := o.Request
	p := Plan{ID: ConnectorPlanID(req.ConnectorID, req.Secret), Kind: KindConnectorCert, Dependency: "connector/" + req.ConnectorID}
	finishing := o.Journal != nil && o.Journal.Status == StatusApplying
	// NewThumbprint is empty when the PFX was not read (a dry run): then
	// nothing can be known to be listed yet.
	listed := o.NewThumbprint != "" && slices.ContainsFunc(o.Certificates, func(c CertificateInfo) bool { return c.Thumbprint == o.NewThumbprint })
	switch {
	case req.Secret.Version == "":
		p.Blocked = "the certificate's secret version is required"
	case !o.Found:
		p.Blocked = fmt.Sprintf("Entra has no API connector %s", req.ConnectorID)
	case o.PFXError != "":
		p.Blocked = fmt.Sprintf("%s does not hold a usable PFX: %s", req.Secret, o.PFXError)
	case o.Kind != "clientCertificate":
		// Switching a connector from basic to certificate authentication
		// changes what the API must accept: a person's decision.
		p.Blocked = fmt.Sprintf("connector %s uses %s authentication, not a client certificate", req.ConnectorID, orDash(o.Kind))
	case listed && !finishing:
		p.Done = fmt.Sprintf("connector %s already lists certificate %s", req.ConnectorID, o.NewThumbprint)
	case !o.NewNotAfter.IsZero() && !o.Now.Before(o.NewNotAfter):
		p.Blocked = fmt.Sprintf("certificate %s in %s expired %s", orDash(o.NewThumbprint), req.Secret, o.NewNotAfter.Format(time.RFC3339))
	}
	if p.Blocked != "" || p.Done != "" {
		return p
	}
	target := "apiConnectors/" + req.ConnectorID
	cert := o.NewThumbprint
	if cert == "" {
		cert = "the certificate in " + req.Secret.String() + " (thumbprint known once the PFX is read, in apply mode)"
	}
	p.Steps = []string{
		fmt.Sprintf("read the PFX %s (thumbprint %s)", req.Secret, orDash(o.NewThumbprint)),
		fmt.Sprintf("POST %s/uploadClientCertificate unless certificateList already holds it", target),
		fmt.Sprintf("read %s back; verify certificateList holds %s and report the active one", target, cert),
		"journal, then tell the API owner which certificate Entra presents from when",
	}
	p.Writes = []PlannedWrite{{Target: target, Field: "certificateList", From: strings.Join(thumbprints(o.Certificates), ","), To: "+" + cert}}
	return p
}

// UploadConnectorCertificate uploads a new client certificate to an API
// connector and verifies that Entra lists it.
func UploadConnectorCertificate(ctx context.Context, deps Deps, req ConnectorCertRequest) (Result, error) {
	if err := deps.checkApply(); err != nil {
		return Result{}, err
	}
	kv, err := deps.vault(req.Secret)
	if err != nil {
		return Result{}, err
	}
	obs := ConnectorObservation{Request: req, Now: deps.now()}
	conn, found, err := deps.Graph.APIConnector(ctx, req.ConnectorID)
	if err != nil {
		return Result{}, fmt.Errorf("repair: reading API connector %s: %w", req.ConnectorID, err)
	}
	if found {
		obs.Found = true
		obs.Kind, obs.Certificates = connectorAuth(conn)
	}

	// A dry run plans from the version's properties (it exists, is a PFX,
	// its expiry — for a Key Vault certificate the secret's exp is the
	// certificate's notAfter); the PFX itself is read only in apply mode,
	// where the upload follows unless Entra already lists its thumbprint.
	// The value stays in this function.
	var pfxB64, password string
	if req.Secret.Version != "" && deps.Mode == DryRun {
		versions, err := listVersions(ctx, kv, req.Secret.Name)
		if err != nil {
			return Result{}, err
		}
		idx := slices.IndexFunc(versions, func(v SecretVersion) bool { return strings.EqualFold(v.Version, req.Secret.Version) })
		switch {
		case idx < 0:
			obs.PFXError = "the version does not exist"
		case versions[idx].ContentType != "" && versions[idx].ContentType != "application/x-pkcs12":
			obs.PFXError = "content type is " + versions[idx].ContentType + ", not application/x-pkcs12"
		default:
			if nb := versions[idx].NotBefore; nb != nil {
				obs.NewNotBefore = nb.UTC()
			}
			if exp := versions[idx].Expires; exp != nil {
				obs.NewNotAfter = exp.UTC()
			}
		}
	} else if req.Secret.Version != "" {
		sec, err := kv.GetSecret(ctx, req.Secret.Name, req.Secret.Version, nil)
		if err != nil {
			return Result{}, fmt.Errorf("repair: reading %s: %w", req.Secret, err)
		}
		pfxB64 = str(sec.Value)
		if req.Password != nil {
			pkv, err := deps.vault(*req.Password)
			if err != nil {
				return Result{}, err
			}
			pw, err := pkv.GetSecret(ctx, req.Password.Name, req.Password.Version, nil)
			if err != nil {
				return Result{}, fmt.Errorf("repair: reading the PFX password %s: %w", *req.Password, err)
			}
			password = str(pw.Value)
		}
		if ct := str(sec.ContentType); ct != "" && ct != "application/x-pkcs12" {
			obs.PFXError = "content type is " + ct + ", not application/x-pkcs12"
		} else if c, err := pfxCertificate(pfxB64, password); err != nil {
			obs.PFXError = err.Error()
		} else {
			obs.NewThumbprint, obs.NewNotBefore, obs.NewNotAfter = c.Thumbprint, c.NotBefore, c.NotAfter
		}
	}
	plan := PlanConnectorCertificate(obs)
	if deps.Journal != nil {
		if e, err := deps.Journal.Get(ctx, plan.ID); err == nil {
			obs.Journal = &e
			plan = PlanConnectorCertificate(obs)
		} else if !errors.Is(err, statestore.ErrNotFound) {
			return Result{}, err
		}
	}
	res := Result{Plan: plan, Mode: deps.Mode.String(), JournalID: plan.ID}
	switch {
	case plan.Blocked != "":
		res.Outcome, res.Detail = OutcomeBlocked, plan.Blocked
		return res, nil
	case plan.Done != "":
		res.Outcome, res.Detail = OutcomeAlreadyApplied, plan.Done
		return res, nil
	case deps.Mode == DryRun:
		res.Outcome = OutcomeDryRun
		res.Detail = fmt.Sprintf("would read the PFX %s and upload it to connector %s unless Entra already lists it; no secret value was read and nothing was written", req.Secret, req.ConnectorID)
		return res, nil
	}

	before := map[string]string{"thumbprints": strings.Join(thumbprints(obs.Certificates), ","), "active": activeOf(obs.Certificates)}
	entry, err := deps.Journal.begin(ctx, plan, before)
	if err != nil {
		return res, err
	}
	// Upload unless the connector already lists the thumbprint: that
	// covers both a completed earlier attempt whose answer was lost and
	// the step recorded in the journal, so the upload never happens twice.
	listed := slices.ContainsFunc(obs.Certificates, func(c CertificateInfo) bool { return c.Thumbprint == obs.NewThumbprint })
	if !listed && !entry.Done("upload") {
		body := identity.NewApiConnectorsItemUploadClientCertificatePostRequestBody()
		body.SetPkcs12Value(&pfxB64)
		body.SetPassword(&password)
		if _, err := deps.Graph.Identity().ApiConnectors().ByIdentityApiConnectorId(req.ConnectorID).UploadClientCertificate().Post(ctx, body, nil); err != nil {
			return res, fmt.Errorf("repair: uploading certificate %s to connector %s: %w", obs.NewThumbprint, req.ConnectorID,
				tenant.AsGraphError("POST", "/identity/apiConnectors/"+req.ConnectorID+"/uploadClientCertificate", err))
		}
	}
	pfxB64, password = "", ""
	if _, err = deps.Journal.step(ctx, plan.ID, "upload", StepOK, "certificate "+obs.NewThumbprint); err != nil {
		return res, err
	}

	// Read back until the list holds the new thumbprint (a replica may not
	// have seen the upload yet).
	var certs []CertificateInfo
	idx := -1
	mismatch, attempts, err := VerifyWrite(ctx, deps.ReadBack, deps.Journal, plan.ID, func(ctx context.Context) (string, error) {
		back, found, err := deps.Graph.APIConnector(ctx, req.ConnectorID)
		if err != nil {
			return "", fmt.Errorf("repair: reading back API connector %s: %w", req.ConnectorID, err)
		}
		if !found {
			certs, idx = nil, -1
			return "the connector is gone", nil
		}
		_, certs = connectorAuth(back)
		idx = slices.IndexFunc(certs, func(c CertificateInfo) bool { return c.Thumbprint == obs.NewThumbprint })
		if idx < 0 {
			return fmt.Sprintf("certificateList does not hold %s", obs.NewThumbprint), nil
		}
		return "", nil
	})
	if err != nil {
		return res, err
	}
	after := map[string]string{"thumbprints": strings.Join(thumbprints(certs), ","), "active": activeOf(certs)}
	if mismatch != "" {
		detail := fmt.Sprintf("read-back: %s (after %d reads)", mismatch, attempts)
		_, _ = deps.Journal.step(ctx, plan.ID, "read-back", StepFailed, detail)
		_, _ = deps.Journal.finish(ctx, plan.ID, StatusFailed, false, after)
		res.Outcome, res.Detail = OutcomeBlocked, detail
		res.Notice = fmt.Sprintf("To %s: IdP Keeper uploaded client certificate %s to API connector %s, but reading the connector back %d times shows %s. Entra still presents %s; nothing more is uploaded automatically. Check the connector in Entra.",
			cmpOr(req.Owner, "the API owner"), obs.NewThumbprint, req.ConnectorID, attempts, mismatch, orDash(before["active"]))
		return res, fmt.Errorf("%w: connector %s: %s", ErrReadBackMismatch, req.ConnectorID, detail)
	}
	newCert := certs[idx]
	if _, err = deps.Journal.step(ctx, plan.ID, "read-back", StepOK, fmt.Sprintf("listed; active %s", activeOf(certs))); err != nil {
		return res, err
	}
	if _, err = deps.Journal.finish(ctx, plan.ID, StatusVerified, true, after); err != nil {
		return res, err
	}
	from := newCert.NotBefore
	if from.IsZero() {
		from = obs.NewNotBefore
	}
	res.Outcome, res.Verified = OutcomeApplied, true
	state := "is the active certificate"
	if !newCert.Active {
		state = fmt.Sprintf("is listed but not yet active (active now: %s)", orDash(activeOf(certs)))
	}
	res.Detail = fmt.Sprintf("connector %s lists certificate %s, which %s", req.ConnectorID, newCert.Thumbprint, state)
	res.Notice = fmt.Sprintf("To %s: from %s, Entra presents client certificate %s (valid until %s) when it calls API connector %s. Make sure the API accepts it; the previous certificate (%s) can be retired once it is no longer active.",
		cmpOr(req.Owner, "the API owner"), from.UTC().Format("2006-01-02 15:04 MST"), newCert.Thumbprint, newCert.NotAfter.UTC().Format("2006-01-02"), req.ConnectorID, orDash(before["active"]))
	return res, nil
}

// pfxCertificate opens a base64 PFX and returns its certificate's
// thumbprint and validity. Errors never quote the input.
func pfxCertificate(b64, password string) (CertificateInfo, error) {
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil {
		return CertificateInfo{}, errors.New("the value is not base64")
	}
	// DecodeChain reads what people export: the certificate with its chain,
	// and AES (PBES2) as well as 3DES encryption.
	_, cert, _, err := pkcs12.DecodeChain(der, password)
	if err != nil {
		// pkcs12 errors name the failing structure, never the content.
		return CertificateInfo{}, fmt.Errorf("the PFX does not open: %v", err)
	}
	sum := sha1.Sum(cert.Raw)
	return CertificateInfo{Thumbprint: strings.ToUpper(hex.EncodeToString(sum[:])), NotBefore: cert.NotBefore.UTC(), NotAfter: cert.NotAfter.UTC()}, nil
}

func connectorAuth(c models.IdentityApiConnectorable) (string, []CertificateInfo) {
	switch a := c.GetAuthenticationConfiguration().(type) {
	case models.ClientCertificateAuthenticationable:
		var out []CertificateInfo
		for _, ci := range a.GetCertificateList() {
			if ci == nil {
				continue
			}
			info := CertificateInfo{Thumbprint: strings.ToUpper(str(ci.GetThumbprint()))}
			if nb := ci.GetNotBefore(); nb != nil {
				info.NotBefore = time.Unix(*nb, 0).UTC()
			}
			if na := ci.GetNotAfter(); na != nil {
				info.NotAfter = time.Unix(*na, 0).UTC()
			}
			info.Active = ci.GetIsActive() != nil && *ci.GetIsActive()
			out = append(out, info)
		}
		return "clientCertificate", out
	case models.BasicAuthenticationable:
		return "basic", nil
	case nil:
		return "", nil
	default:
		return "other", nil
	}
}

func thumbprints(cs []CertificateInfo) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Thumbprint)
	}
	return out
}

func activeOf(cs []CertificateInfo) string {
	for _, c := range cs {
		if c.Active {
			return c.Thumbprint
		}
	}
	return ""
}
