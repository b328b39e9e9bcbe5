package azuritetest

import (
	"context"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// A port taken between freePort and Azurite's listen — by a listener that
// answers, as another test package's Azurite would — is retried on a new
// port, and the connection string names the Azurite that was started.
func TestStartRetriesTakenPort(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	go func() { // answer like a live service would: accept and hold
		for {
			c, err := taken.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	takenPort := taken.Addr().(*net.TCPAddr).Port
	real := freePort
	calls := 0
	freePort = func(t testing.TB) int {
		calls++
		if calls == 1 {
			return takenPort
		}
		return real(t)
	}
	defer func() { freePort = real }()

	conn := Start(t)
	if calls != 2 {
		t.Fatalf("freePort called %d times, want 2 (one retry)", calls)
	}
	if strings.Contains(conn, net.JoinHostPort("127.0.0.1", itoa(takenPort))) {
		t.Fatalf("connection string names the taken port: %s", conn)
	}
	client, err := azblob.NewClientFromConnectionString(conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(context.Background(), "retry", nil); err != nil {
		t.Fatalf("the started Azurite does not answer: %v", err)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
