package notify_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/netguard"
	"github.com/idpkeeper/idpkeeper/shared/notify"
)

// loopback is the explicit allowance tests need to post to httptest
// servers; without it a webhook on 127.0.0.1 is refused like any inside
// address.
var loopback = netguard.Policy{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}

// Webhook deliveries reach public addresses only unless allowed: a literal
// inside address is refused before sending, a name resolving to loopback
// when connecting, and a redirect to the metadata endpoint or to loopback at
// the redirect. No error carries the URL's token.
func TestWebhookNetworkGuard(t *testing.T) {
	var hits atomic.Int32
	inside := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	defer inside.Close()
	_, port, _ := net.SplitHostPort(inside.Listener.Addr().String())
	m := notify.Compose(partnerFinding(), "d14", testConfig(), testLinks)
	send := func(w notify.Webhook) error {
		_, err := w.Send(context.Background(), m)
		if err != nil && strings.Contains(err.Error(), "SEKRET") {
			t.Errorf("error echoes the webhook URL: %v", err)
		}
		return err
	}

	for _, url := range []string{
		"https://169.254.169.254/hook?sig=SEKRET",
		"http://127.0.0.1:" + port + "/hook?sig=SEKRET",
		"https://[::1]:" + port + "/hook?sig=SEKRET",
	} {
		err := send(notify.Webhook{URL: url})
		if _, ok := netguard.Blocked(err); !ok || !strings.Contains(err.Error(), "not sent") {
			t.Errorf("%s: %v", strings.Split(url, "/hook")[0], err)
		}
	}
	err := send(notify.Webhook{URL: "http://localhost:" + port + "/hook?sig=SEKRET"})
	if be, ok := netguard.Blocked(err); !ok || be.Range != "loopback" {
		t.Errorf("localhost: %v", err)
	}
	if hits.Load() != 0 {
		t.Fatalf("%d refused deliveries reached the inside server", hits.Load())
	}

	// A public-looking relay (here: allowed loopback) that redirects the
	// POST inside is stopped at the redirect.
	for _, target := range []string{"https://169.254.169.254/metadata/identity/oauth2/token", "http://127.0.0.2:" + port + "/"} {
		relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target, http.StatusTemporaryRedirect)
		}))
		err := send(notify.Webhook{URL: relay.URL + "/hook?sig=SEKRET", Network: loopback})
		relay.Close()
		if be, ok := netguard.Blocked(err); !ok || !be.Redirect {
			t.Errorf("redirect to %s: %v", target, err)
		}
	}

	// Allowed explicitly: delivered.
	if err := send(notify.Webhook{URL: inside.URL + "/hook?sig=SEKRET", Network: loopback}); err != nil || hits.Load() != 1 {
		t.Fatalf("allowed loopback: %v (hits %d)", err, hits.Load())
	}
}

// The config's allowNetworks reaches the webhook channel.
func TestWebhookFromConfigCarriesAllowNetworks(t *testing.T) {
	cfg, err := config.Parse("idpkeeper.yaml", []byte("version: 1\nnotifications:\n  webhook:\n    url: https://hooks.corp.example/notice\n    allowNetworks: [10.8.0.0/16]\n"))
	if err != nil {
		t.Fatal(err)
	}
	chs, err := notify.FromConfig(cfg, notify.Deps{})
	if err != nil || len(chs) != 1 {
		t.Fatalf("%v %v", chs, err)
	}
	w := chs[0].(notify.Webhook)
	if w.Network.CheckHost("10.8.1.1") != nil || w.Network.CheckHost("10.9.1.1") == nil {
		t.Fatalf("policy %+v", w.Network)
	}
}
