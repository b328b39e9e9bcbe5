package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/azurefake"
	"github.com/idpkeeper/idpkeeper/shared/config"
	"github.com/idpkeeper/idpkeeper/shared/scan"
	"github.com/idpkeeper/idpkeeper/shared/tenant"
)

// Start-to-listening: how long the Functions host waits between starting the
// handler process and its first answer to GET / (it polls every 25 ms and
// gives up after 30 s), for idpkeeper versus a bare net/http server.
//
//	go test -run='^$' -bench=StartToListening -benchtime=20x ./functions/
func BenchmarkStartToListening(b *testing.B) {
	bins := buildStartBinaries(b)
	for _, name := range []string{"idpkeeper", "bare-net-http"} {
		b.Run(name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				startAndWait(b, bins[name])
			}
		})
	}
}

const bareServer = `package main

import (
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("FUNCTIONS_CUSTOMHANDLER_PORT"), nil)
}
`

var (
	buildOnce sync.Once
	binaries  map[string]string
	buildErr  error
)

func buildStartBinaries(b *testing.B) map[string]string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "idpkeeper-bench-")
		if err != nil {
			buildErr = err
			return
		}
		binaries = map[string]string{"idpkeeper": filepath.Join(dir, "idpkeeper"), "bare-net-http": filepath.Join(dir, "bare")}
		if out, err := exec.Command("go", "build", "-o", binaries["idpkeeper"], ".").CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build idpkeeper: %v\n%s", err, out)
			return
		}
		src := filepath.Join(dir, "bare.go")
		os.WriteFile(src, []byte(bareServer), 0o644)
		if out, err := exec.Command("go", "build", "-o", binaries["bare-net-http"], src).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("build bare server: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		b.Fatal(buildErr)
	}
	return binaries
}

func startAndWait(b *testing.B, bin string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(bin, "serve")
	cmd.Env = append(os.Environ(), "FUNCTIONS_CUSTOMHANDLER_PORT="+strconv.Itoa(port))
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	client := &http.Client{Timeout: 100 * time.Millisecond}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/"
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		time.Sleep(500 * time.Microsecond)
	}
	b.Fatalf("%s did not answer GET / within 30 s", bin)
}

// A whole scan of a generated tenant with 500 SAML/WS-Fed partners (two
// domains each, Graph pages of 100) through the real SDK clients and TLS to
// the local fake.
//
//	go test -run='^$' -bench=Scan500 -benchmem ./functions/
func BenchmarkScan500Partners(b *testing.B) {
	tn := generatedTenant(500)
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	srv.PageSize = 100
	cfg := config.Default()
	cfg.KeyVaults = []string{"https://bench-kv.vault.azure.net/"}
	src := scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: src})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Inventory.Federations) != 500 {
			b.Fatalf("read %d federations", len(res.Inventory.Federations))
		}
	}
	b.StopTimer()
	graph, vault := countRequests(srv.Requests())
	b.ReportMetric(float64(graph)/float64(b.N), "graph-requests/op")
	b.ReportMetric(float64(vault)/float64(b.N), "keyvault-requests/op")
}

func countRequests(rs []azurefake.Request) (graph, vault int) {
	for _, r := range rs {
		switch {
		case strings.HasPrefix(r.Path, "/v1.0/"):
			graph++
		case strings.HasPrefix(r.Path, "/secrets"):
			vault++
		}
	}
	return graph, vault
}

// How many requests a scan of the example tenant makes, at the fake's
// default page size of 2 (as examples/tenant was recorded) and at Graph's
// usual 100.
//
//	go test -run='^$' -bench=ScanExampleRequests ./functions/
func BenchmarkScanExampleRequests(b *testing.B) {
	for _, size := range []int{2, 100} {
		b.Run(fmt.Sprintf("page-size-%d", size), func(b *testing.B) {
			tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
			if err != nil {
				b.Fatal(err)
			}
			srv := azurefake.NewServer(tn)
			defer srv.Close()
			srv.PageSize = size
			cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
			if err != nil {
				b.Fatal(err)
			}
			src := scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
			for i := 0; i < b.N; i++ {
				if _, err := scan.Run(context.Background(), scan.Options{Config: cfg, Source: src}); err != nil {
					b.Fatal(err)
				}
			}
			graph, vault := countRequests(srv.Requests())
			b.ReportMetric(float64(graph)/float64(b.N), "graph-requests/op")
			b.ReportMetric(float64(vault)/float64(b.N), "keyvault-requests/op")
		})
	}
}

func generatedTenant(partners int) *azurefake.Tenant {
	now := time.Now().UTC()
	tn := &azurefake.Tenant{
		TenantID:           "00000000-0000-4000-8000-000000000500",
		EmailOTP:           map[string]any{"id": "Email", "state": "enabled", "allowExternalIdToUseEmailOtp": "enabled"},
		CrossTenantDefault: map[string]any{},
		Vaults:             map[string]*azurefake.Vault{"bench-kv.vault.azure.net": {}},
	}
	// One certificate is shared: generating 500 keys would measure the
	// generator, not the scan.
	cert := azurefake.CertificateBase64("partner signing", now.AddDate(-1, 0, 0), now.AddDate(0, 0, 20))
	for i := 0; i < partners; i++ {
		id := fmt.Sprintf("00000000-0000-4000-9000-%012d", i)
		tn.Federations = append(tn.Federations, azurefake.Federation{
			Object: map[string]any{
				"id": id, "displayName": fmt.Sprintf("Partner %d", i),
				"issuerUri":                       fmt.Sprintf("https://idp%d.partner.example/saml", i),
				"passiveSignInUri":                fmt.Sprintf("https://idp%d.partner.example/sso", i),
				"preferredAuthenticationProtocol": "saml",
				"signingCertificate":              cert,
			},
			Domains: []string{fmt.Sprintf("partner%d.example", i), fmt.Sprintf("partner%d.example.org", i)},
		})
	}
	return tn
}

// Jobs per second through the in-process pipeline (scan → queue → handlers →
// notices to an outbox), the tenant served by the HTTPS Graph/Key Vault fake.
// Each iteration starts with an empty ledger, so every notice is really sent.
//
//	go test -run='^$' -bench=PipelineJobs -benchmem ./functions/
func BenchmarkPipelineJobs(b *testing.B) {
	tn, err := azurefake.LoadTenant(filepath.Join("..", "examples", "fixture", "tenant.json"))
	if err != nil {
		b.Fatal(err)
	}
	srv := azurefake.NewServer(tn)
	defer srv.Close()
	cfg, err := config.Load(filepath.Join("..", "examples", "idpkeeper.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	src := scan.Source{Credential: tenant.StaticCredential{}, Transport: srv.Transport()}
	jobsDone := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		lp, err := localPipeline(cfg, src, filepath.Join(dir, "state"), filepath.Join(dir, "outbox"), time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC), false, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := lp.ScanAndQueue(context.Background(), "bench"); err != nil {
			b.Fatal(err)
		}
		stats, err := lp.queue.Drain(context.Background(), lp.parkingHandler())
		if err != nil || stats.DeadLettered > 0 {
			b.Fatalf("%+v %v", stats, err)
		}
		jobsDone += stats.Completed
	}
	b.ReportMetric(float64(jobsDone)/b.Elapsed().Seconds(), "jobs/s")
}
