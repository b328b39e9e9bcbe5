package repair

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
)

func certReq() ConnectorCertRequest {
	return ConnectorCertRequest{ConnectorID: certConnector, Secret: SecretRef{Vault: vaultHostName, Name: "partner-registry-client-cert", Version: certSecretA}, Owner: "registry-team@contoso.example"}
}

func connectorCerts(e *env) []any {
	var out []any
	e.srv.Tenant(func(tn *azurefake.Tenant) {
		for _, c := range tn.APIConnectors {
			if c["id"] == certConnector {
				auth := c["authenticationConfiguration"].(map[string]any)
				out = append(out, auth["certificateList"].([]any)...)
			}
		}
	})
	return out
}

func TestUploadConnectorCertificate(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	res, err := UploadConnectorCertificate(ctx, e.deps(Apply), certReq())
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcome != OutcomeApplied || !res.Verified {
		t.Fatalf("%s: %s", res.Outcome, res.Detail)
	}
	if !strings.Contains(res.Notice, "Entra presents client certificate "+thumbA) || !strings.Contains(res.Notice, "registry-team@contoso.example") {
		t.Fatalf("notice %q", res.Notice)
	}
	en := e.journalEntry(res.JournalID)
	if en.Before["thumbprints"] != "0F3C9A7B2E5D8C1F4A6B9E2D5C8F1A4B7E0D3C6F,7A1E4D9C3B6F2A5E8D1C4B7A0F3E6D9C2B5A8F1E" ||
		en.Before["active"] != "0F3C9A7B2E5D8C1F4A6B9E2D5C8F1A4B7E0D3C6F" || !strings.Contains(en.After["thumbprints"], thumbA) || en.After["active"] != thumbA {
		t.Fatalf("journal before %v after %v", en.Before, en.After)
	}
	if len(connectorCerts(e)) != 3 {
		t.Fatalf("certificate list %v", connectorCerts(e))
	}
	// Duplicate delivery: the thumbprint is listed, nothing is uploaded.
	res2, err := UploadConnectorCertificate(ctx, e.deps(Apply), certReq())
	if err != nil || res2.Outcome != OutcomeAlreadyApplied {
		t.Fatalf("%s %v", res2.Outcome, err)
	}
	if n, _ := e.writesTo("/uploadClientCertificate"); n != 1 {
		t.Fatalf("%d uploads", n)
	}
	e.assertNoCanary(resultTexts(res, err)...)
}

func TestUploadConnectorCertificateWithPasswordKeepsItOutOfEverything(t *testing.T) {
	e := newEnv(t)
	req := certReq()
	req.Secret.Version = certSecretB
	req.Password = &SecretRef{Vault: vaultHostName, Name: "partner-registry-pfx-password", Version: "pw000000000000000000000000000001"}
	res, err := UploadConnectorCertificate(context.Background(), e.deps(Apply), req)
	if err != nil || res.Outcome != OutcomeApplied {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	if !strings.Contains(res.Detail, thumbB) {
		t.Fatalf("detail %q", res.Detail)
	}
	e.assertNoCanary(resultTexts(res, err)...)

	// Without the password the PFX does not open: blocked, and the error
	// says so without quoting anything.
	e2 := newEnv(t)
	req.Password = nil
	res, err = UploadConnectorCertificate(context.Background(), e2.deps(Apply), req)
	if err != nil || res.Outcome != OutcomeBlocked || !strings.Contains(res.Detail, "does not open") {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
	if len(e2.srv.Writes()) != 0 {
		t.Fatal("wrote after a PFX that does not open")
	}
	e2.assertNoCanary(resultTexts(res, err)...)
}

func TestUploadConnectorCertificateRefusesBasicAuthConnector(t *testing.T) {
	e := newEnv(t)
	req := certReq()
	req.ConnectorID = "a3b1c2d4-0001-4e5f-8a9b-0c1d2e3f4a5b"
	res, err := UploadConnectorCertificate(context.Background(), e.deps(Apply), req)
	if err != nil || res.Outcome != OutcomeBlocked || !strings.Contains(res.Detail, "basic") {
		t.Fatalf("%s %s %v", res.Outcome, res.Detail, err)
	}
}

func TestUploadConnectorCertificateCrashAtEveryCallThenRedeliver(t *testing.T) {
	job := func(e *env) (Result, error) {
		return UploadConnectorCertificate(context.Background(), e.deps(Apply), certReq())
	}
	id := ConnectorPlanID(certConnector, certReq().Secret)
	crashEverywhere(t, nil, job, func(t *testing.T, base, got *env, k int) {
		if !reflect.DeepEqual(connectorCerts(got), connectorCerts(base)) {
			t.Fatalf("certificate lists differ:\n%v\n%v", connectorCerts(got), connectorCerts(base))
		}
		if n, _ := got.writesTo("/uploadClientCertificate"); n != 1 {
			t.Fatalf("%d uploads", n)
		}
		if g, b := got.journalEntry(id), base.journalEntry(id); !reflect.DeepEqual(g, b) {
			t.Fatalf("journal differs:\n%+v\n%+v", g, b)
		}
	})
}
