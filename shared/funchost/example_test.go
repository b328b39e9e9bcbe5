package funchost_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/idpkeeper/idpkeeper/shared/funchost"
)

// Wiring a timer and an HTTP function, as `idpkeeper serve` would; in main:
//
//	addr, err := funchost.ListenAddress()
//	...
//	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err = funchost.Serve(ctx, addr, rt, nil)
func ExampleRouter() {
	rt := funchost.NewRouter(funchost.NewLogger(io.Discard, io.Discard, slog.LevelInfo))

	rt.Handle("ScanTimer", func(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
		timer, err := inv.Timer("timer") // binding name from functions/ScanTimer/function.json
		if err != nil {
			return funchost.Rejected("timer payload: %v", err), nil // don't retry garbage
		}
		// ... run the scan; return an error only to have the host retry.
		resp := &funchost.InvocationResponse{}
		resp.Logf("scan done (first run: %v)", timer.ScheduleStatus == nil || timer.ScheduleStatus.Last.IsZero())
		return resp, nil
	})

	rt.Handle("Report", func(ctx context.Context, inv *funchost.Invocation) (*funchost.InvocationResponse, error) {
		req, err := inv.HTTPRequest("req")
		if err != nil {
			return nil, err
		}
		res, err := funchost.JSONResponse(http.StatusOK, map[string]string{"format": req.Query["format"]})
		if err != nil {
			return nil, err
		}
		return (&funchost.InvocationResponse{}).SetOutput("res", res), nil // an object, never a bare string
	})

	body := `{"Data":{"timer":{"Schedule":{"AdjustForDST":true},"ScheduleStatus":{"Last":"0001-01-01T00:00:00","Next":"2026-11-25T06:00:00+00:00","LastUpdated":"2026-11-24T06:00:00.1+00:00"},"IsPastDue":false}},"Metadata":{"sys":{"MethodName":"ScanTimer"}}}`
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/ScanTimer", strings.NewReader(body)))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	fmt.Println(rec.Body.String())
	// Output:
	// 200 application/json
	// {"Outputs":{},"Logs":["scan done (first run: true)"],"ReturnValue":null}
}
