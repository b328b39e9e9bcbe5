package watch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/idpkeeper/idpkeeper/shared/netguard/netguardtest"
	"github.com/idpkeeper/idpkeeper/shared/watch"
)

// BenchmarkWatchRound5000 is one watch round over 5,000 endpoints whose
// server answers after 50 ms: each check resolves its own name (a DNS
// server on loopback), opens its own TCP connection and TLS session, waits
// the 50 ms, and its result is appended to the endpoint's history (in
// memory). It reports checks per second and the peak heap in use.
//
//	go test -run='^$' -bench=WatchRound5000 -benchtime=1x -benchmem ./shared/watch/
func BenchmarkWatchRound5000(b *testing.B) {
	const n = 5000
	const latency = 50 * time.Millisecond
	ca := newPKI(b)
	srv := tlsServer(b, ca.issue(b, []string{"*.bench.test"}, time.Now().Add(-time.Hour), time.Now().Add(90*24*time.Hour)),
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(latency)
			w.Write([]byte("<html>sign in</html>"))
		}))
	port := portOf(b, srv)
	names := map[string][]netip.Addr{}
	eps := make([]watch.Endpoint, n)
	for i := range eps {
		host := fmt.Sprintf("idp%04d.bench.test", i)
		names[host] = []netip.Addr{netip.MustParseAddr("127.0.0.1")}
		ep := endpoint(watch.RoleSignIn, "https://"+host+":"+port+"/adfs/ls/", loopbackOnly())
		ep.Dependency.Ref = fmt.Sprintf("federation/bench-%04d", i)
		ep.Key = watch.EndpointKey(ep.Dependency.Ref, ep.Role, "", ep.Display)
		eps[i] = ep
	}
	res, _ := netguardtest.NewResolver(b, names)
	for _, conc := range []int{32, 128} {
		b.Run(fmt.Sprintf("concurrency-%d", conc), func(b *testing.B) {
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-stop:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				at := time.Date(2026, 11, 20, 6, 0, 0, 0, time.UTC).Add(time.Duration(i) * 10 * time.Minute)
				round := watch.Round{
					Store: watch.Store{State: &watch.Memory{}},
					Checker: &watch.Prober{Timeout: 10 * time.Second, RootCAs: ca.pool, Resolver: res,
						Now: func() time.Time { return at }},
					Rules: rules, Concurrency: conc, Budget: 10 * time.Minute, Now: func() time.Time { return at },
				}
				out, err := round.Run(context.Background(), eps)
				if err != nil {
					b.Fatal(err)
				}
				up := 0
				for _, r := range out.Results {
					if r.State == watch.Up {
						up++
					}
				}
				if up != n || len(out.Statuses) != n {
					b.Fatalf("%d of %d up, %d statuses", up, n, len(out.Statuses))
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			close(stop)
			wg.Wait()
			b.ReportMetric(float64(n*b.N)/elapsed.Seconds(), "checks/s")
			b.ReportMetric(float64(peak.Load())/(1<<20), "MB-peak-heap")
		})
	}
}
