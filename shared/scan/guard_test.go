package scan_test

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/inventory"
	"github.com/idpkeeper/idpkeeper/shared/metadata"
	"github.com/idpkeeper/idpkeeper/shared/scan"
)

// A live tenant's metadata fetch dials through the network guard with the
// dependency's allowNetworks: a partner URL naming localhost is refused when
// connecting, and reaches the server once the config allows loopback (the
// TLS handshake then fails on the test certificate, which proves the
// connection was made).
func TestLiveMetadataFetchUsesConfiguredNetworkPolicy(t *testing.T) {
	var handshakes atomic.Int32
	srv := httptest.NewUnstartedServer(http.NotFoundHandler())
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			handshakes.Add(1)
		}
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the expected handshake failure
	srv.StartTLS()
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	partner := inventory.Federation{ID: "fed-1", DisplayName: "Inside partner", Domains: []string{"inside.example"}}

	plan := func(allow string) metadata.ChangePlan {
		y := "version: 1\ndependencies:\n  - ref: federation/inside.example\n    metadata:\n      url: https://localhost:" + port + "/md.xml\n"
		if allow != "" {
			y += "      allowNetworks: [" + allow + "]\n"
		}
		cfg, err := config.Parse("idpkeeper.yaml", []byte(y))
		if err != nil {
			t.Fatal(err)
		}
		// A live tenant (no snapshot, no transport override).
		pp, err := (&scan.Tenant{}).PlanPartner(context.Background(), cfg, partner, scan.MetadataOptions{Store: &scan.MemoryStore{}}, capturedAt)
		if err != nil {
			t.Fatal(err)
		}
		return pp.Plan
	}

	p := plan("")
	if p.Outcome != metadata.OutcomeMetadataFailure || !strings.Contains(p.Reason+strings.Join(p.Notes, " "), "loopback") {
		t.Fatalf("localhost without allowNetworks: %s %s %v", p.Outcome, p.Reason, p.Notes)
	}
	if handshakes.Load() != 0 {
		t.Fatal("the refused fetch connected")
	}
	p = plan(`127.0.0.1, "::1"`)
	if p.FailureKind != metadata.KindTLS || handshakes.Load() == 0 {
		t.Fatalf("allowed loopback: %s %s (connections %d)", p.FailureKind, p.Reason, handshakes.Load())
	}
}
