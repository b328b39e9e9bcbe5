// Package netguardtest serves DNS on loopback for tests: a resolver that
// answers chosen names with chosen addresses, so a test can make
// "partner.example" resolve to 127.0.0.1 and see the guard refuse it after
// resolution — without touching the network beyond loopback.
//
// The server speaks the DNS message format of RFC 1035 §4.1 (header,
// question, answer resource records with a compression pointer to the
// question name) over UDP, for A (type 1) and AAAA (type 28) questions of
// class IN. Other questions get an empty answer; unknown names NXDOMAIN
// (RCODE 3).
package netguardtest

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// DNS message constants from RFC 1035 §3.2.2, §4.1.1 and RFC 3596 §2.1.
const (
	typeA     = 1
	typeAAAA  = 28
	classIN   = 1
	rcodeNX   = 3
	headerLen = 12
)

// Server is a DNS server on 127.0.0.1.
type Server struct {
	conn    net.PacketConn
	mu      sync.Mutex
	names   map[string][]netip.Addr
	queries []string
}

// NewResolver starts a DNS server answering names (lower case, no trailing
// dot) with their addresses and returns a resolver that asks only it. The
// server stops when the test ends.
func NewResolver(t testing.TB, names map[string][]netip.Addr) (*net.Resolver, *Server) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{conn: conn, names: map[string][]netip.Addr{}}
	for n, a := range names {
		s.names[strings.ToLower(strings.TrimSuffix(n, "."))] = a
	}
	go s.serve()
	t.Cleanup(func() { conn.Close() })
	addr := conn.LocalAddr().String()
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "udp", addr)
		},
	}
	return r, s
}

// Set changes a name's answer (a DNS rebinding test answers differently
// the second time).
func (s *Server) Set(name string, addrs ...netip.Addr) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.names[strings.ToLower(name)] = addrs
}

// Queries lists the names asked so far.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func (s *Server) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if resp := s.answer(buf[:n]); resp != nil {
			s.conn.WriteTo(resp, from)
		}
	}
}

// answer builds the response to one query, or nil for a message too broken
// to answer.
func (s *Server) answer(q []byte) []byte {
	if len(q) < headerLen || binary.BigEndian.Uint16(q[4:6]) != 1 {
		return nil
	}
	// QNAME: length-prefixed labels ending with a zero length.
	i := headerLen
	var labels []string
	for {
		if i >= len(q) {
			return nil
		}
		l := int(q[i])
		if l == 0 {
			i++
			break
		}
		if l > 63 || i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+4 > len(q) {
		return nil
	}
	qtype := binary.BigEndian.Uint16(q[i : i+2])
	qclass := binary.BigEndian.Uint16(q[i+2 : i+4])
	question := q[headerLen : i+4]
	name := strings.ToLower(strings.Join(labels, "."))

	s.mu.Lock()
	s.queries = append(s.queries, name)
	addrs, known := s.names[name]
	s.mu.Unlock()

	var answers [][]byte
	for _, a := range addrs {
		switch {
		case qclass != classIN:
		case qtype == typeA && a.Is4():
			b := a.As4()
			answers = append(answers, b[:])
		case qtype == typeAAAA && a.Is6() && !a.Is4In6():
			b := a.As16()
			answers = append(answers, b[:])
		}
	}

	out := make([]byte, headerLen, 512)
	copy(out[0:2], q[0:2]) // ID
	// QR set; opcode and RD copied from the query; RA set.
	flags := uint16(1<<15) | binary.BigEndian.Uint16(q[2:4])&(0xF<<11|1<<8) | 1<<7
	if !known {
		flags |= rcodeNX
	}
	binary.BigEndian.PutUint16(out[2:4], flags)
	binary.BigEndian.PutUint16(out[4:6], 1)
	binary.BigEndian.PutUint16(out[6:8], uint16(len(answers)))
	out = append(out, question...)
	for _, rdata := range answers {
		rr := make([]byte, 12, 12+len(rdata))
		binary.BigEndian.PutUint16(rr[0:2], 0xC000|headerLen) // pointer to the question's name
		binary.BigEndian.PutUint16(rr[2:4], qtype)
		binary.BigEndian.PutUint16(rr[4:6], classIN)
		binary.BigEndian.PutUint32(rr[6:10], 1) // TTL: one second
		binary.BigEndian.PutUint16(rr[10:12], uint16(len(rdata)))
		out = append(out, append(rr, rdata...)...)
	}
	return out
}
