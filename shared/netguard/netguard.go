// Package netguard keeps outbound HTTP requests whose address comes from
// outside — a partner's metadata URL, a notification webhook, a watched
// endpoint — away from the places inside the network they must never reach:
// loopback, private (RFC 1918), carrier-grade NAT, link-local (the cloud
// instance metadata service at 169.254.169.254), unique-local, unspecified,
// multicast, documentation and other reserved ranges, and Azure's platform
// endpoint 168.63.129.16.
//
// The check runs on the address actually dialled, after DNS resolution (a
// net.Dialer Control hook), so a name that resolves — or re-resolves, DNS
// rebinding — to an inside address is refused as surely as a literal one. It
// runs again on every redirect: the redirect target's literal address, the
// scheme (https never drops to http), and the hop count; a redirect to a
// name is then checked when its connection is dialled.
//
// A dependency that really lives inside the network is allowed by listing
// its networks (Policy.Allow; in the config file, allowNetworks). Nothing
// else opens the guard: there is no global switch.
//
// Use NewClient (or NewTransport) for requests to an address from the
// config; Policy.Check* for validation; Guard to put the redirect rules on a
// client a caller supplies (a replay transport, a test transport), whose
// dialling this package cannot see.
package netguard

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// BlockedError says that an address was refused and why.
type BlockedError struct {
	// Addr is the refused address.
	Addr netip.Addr
	// Range names the kind of address ("loopback", "private (RFC 1918)", …).
	Range string
	// Redirect is true when the address was the target of a redirect.
	Redirect bool
}

func (e *BlockedError) Error() string {
	what := "address"
	if e.Redirect {
		what = "redirect to address"
	}
	return fmt.Sprintf("%s %s refused: it is %s, not a public address (list its network in allowNetworks to allow it)", what, e.Addr, e.Range)
}

// ErrDowngrade is the cause when a redirect leaves https for http.
var ErrDowngrade = errors.New("redirect from https to plain http refused")

// DefaultMaxRedirects is how many redirects a guarded client follows when
// Options.MaxRedirects is 0.
const DefaultMaxRedirects = 3

// reserved are the non-public ranges, most specific reason first. Sources:
// the IANA IPv4 and IPv6 Special-Purpose Address Registries (RFC 6890 and
// updates), RFC 1918, RFC 6598, RFC 4193, RFC 4291, RFC 5737, RFC 3849,
// RFC 9637; 168.63.129.16 is Azure's platform endpoint ("What is IP address
// 168.63.129.16?", Azure Virtual Network docs), public in form but inside
// every Azure host.
var reserved = []struct {
	prefix netip.Prefix
	name   string
}{
	{netip.MustParsePrefix("168.63.129.16/32"), "Azure's platform endpoint (168.63.129.16)"},
	{netip.MustParsePrefix("0.0.0.0/8"), "unspecified (\"this network\")"},
	{netip.MustParsePrefix("10.0.0.0/8"), "private (RFC 1918)"},
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (carrier-grade NAT, RFC 6598)"},
	{netip.MustParsePrefix("127.0.0.0/8"), "loopback"},
	{netip.MustParsePrefix("169.254.0.0/16"), "link-local (the cloud instance metadata service lives here)"},
	{netip.MustParsePrefix("172.16.0.0/12"), "private (RFC 1918)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved for IETF protocol assignments"},
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation (TEST-NET-1)"},
	{netip.MustParsePrefix("192.88.99.0/24"), "reserved (6to4 relay anycast)"},
	{netip.MustParsePrefix("192.168.0.0/16"), "private (RFC 1918)"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation (TEST-NET-2)"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation (TEST-NET-3)"},
	{netip.MustParsePrefix("224.0.0.0/4"), "multicast"},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (or broadcast)"},

	{netip.MustParsePrefix("::/128"), "unspecified"},
	{netip.MustParsePrefix("::1/128"), "loopback"},
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("2001::/23"), "reserved for IETF protocol assignments"},
	{netip.MustParsePrefix("2002::/16"), "6to4 (it embeds an IPv4 address)"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	{netip.MustParsePrefix("5f00::/16"), "segment routing (SRv6)"},
	{netip.MustParsePrefix("fc00::/7"), "unique-local"},
	{netip.MustParsePrefix("fe80::/10"), "link-local"},
	{netip.MustParsePrefix("fec0::/10"), "site-local (deprecated)"},
	{netip.MustParsePrefix("ff00::/8"), "multicast"},
}

var (
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
	globalUnicst = netip.MustParsePrefix("2000::/3")
)

// Classify says whether ip is a public address, and if not, what it is.
// IPv4-mapped IPv6 addresses are judged as the IPv4 address they carry, and
// so are addresses under the NAT64 well-known prefix (a DNS64 resolver hands
// those out for public IPv4 hosts).
func Classify(ip netip.Addr) (public bool, rangeName string) {
	if !ip.IsValid() {
		return false, "not an IP address"
	}
	ip = ip.WithZone("")
	if ip.Is4In6() {
		return Classify(ip.Unmap())
	}
	if ip.Is6() && nat64.Contains(ip) {
		b := ip.As16()
		return Classify(netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]}))
	}
	for _, r := range reserved {
		if r.prefix.Contains(ip) {
			return false, r.name
		}
	}
	if ip.Is6() && !globalUnicst.Contains(ip) {
		return false, "outside IPv6 global unicast (2000::/3)"
	}
	return true, ""
}

// InstanceMetadataAddresses are the cloud platform addresses an allow list
// may never open: the instance metadata service (Azure, AWS, GCP: IPv4 and
// AWS's IPv6) and Azure's platform endpoint. They hand out tokens for the
// host's identity, so no partner or webhook can live there.
var InstanceMetadataAddresses = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("168.63.129.16"),
}

// Policy says which non-public networks one dependency may reach. The zero
// Policy allows public addresses only.
type Policy struct {
	// Allow lists networks that may be reached although they are not
	// public (an internal metadata server, a webhook relay in the VNet).
	Allow []netip.Prefix
}

// ParseAllow reads allowNetworks entries: CIDR prefixes ("10.20.0.0/16",
// "fd12:3456::/48") or single addresses ("127.0.0.1"). An entry that would
// open the instance metadata service (see InstanceMetadataAddresses) — and
// so also 0.0.0.0/0 and ::/0 — is refused.
func ParseAllow(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		p, err := parsePrefix(strings.TrimSpace(e))
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR such as 10.20.0.0/16) or an IP address", s)
		}
		if p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q: a network cannot carry an IPv6 zone", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("%q is not a network (CIDR such as 10.20.0.0/16) or an IP address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	p = p.Masked()
	if p.Addr().Is4In6() {
		p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		if p.Bits() < 0 {
			return netip.Prefix{}, fmt.Errorf("%q: an IPv4-mapped network needs at least /96", s)
		}
	}
	for _, md := range InstanceMetadataAddresses {
		if p.Contains(md) {
			return netip.Prefix{}, fmt.Errorf("%q includes %s, the cloud platform's metadata endpoint, which hands out the host's tokens: it can never be allowed", s, md)
		}
	}
	return p, nil
}

// allowed reports whether ip is inside an allowed network.
func (p Policy) allowed(ip netip.Addr) bool {
	ip = ip.WithZone("")
	if ip.Is4In6() {
		ip = ip.Unmap()
	}
	for _, n := range p.Allow {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckAddr returns a *BlockedError unless ip is public or allowed. The
// instance metadata addresses are refused even when an allow list would
// cover them (ParseAllow already refuses such lists; this keeps a Policy
// built in code honest too).
func (p Policy) CheckAddr(ip netip.Addr) error {
	public, name := Classify(ip)
	if public {
		return nil
	}
	plain := ip.WithZone("")
	if plain.Is4In6() {
		plain = plain.Unmap()
	}
	for _, md := range InstanceMetadataAddresses {
		if plain == md {
			return &BlockedError{Addr: ip, Range: name}
		}
	}
	if p.allowed(ip) {
		return nil
	}
	return &BlockedError{Addr: ip, Range: name}
}

// CheckHost checks a URL host that is a literal IP address ("10.0.0.1",
// "[fe80::1%eth0]" without brackets); a name passes here and is checked
// when its connection is dialled.
func (p Policy) CheckHost(host string) error {
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	if err != nil {
		return nil
	}
	return p.CheckAddr(ip)
}

// CheckURL checks a URL's host with CheckHost. Validation uses it to refuse
// https://169.254.169.254/ before anything is sent.
func (p Policy) CheckURL(u *url.URL) error { return p.CheckHost(u.Hostname()) }

// Control is a net.Dialer Control hook: it runs after name resolution, on
// the address about to be connected, for every address the dialer tries.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("netguard: cannot read the dialled address %q", address)
	}
	return p.CheckAddr(ip)
}

// CheckRedirect is an http.Client CheckRedirect policy: at most maxHops
// redirects, never from https to http, and never to a literal address the
// policy refuses. A negative maxHops follows no redirect (the last response
// is returned as it is).
func (p Policy) CheckRedirect(maxHops int) func(req *http.Request, via []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if maxHops < 0 {
			return http.ErrUseLastResponse
		}
		if len(via) > maxHops {
			return fmt.Errorf("more than %d redirects", maxHops)
		}
		if len(via) > 0 && strings.EqualFold(via[len(via)-1].URL.Scheme, "https") && !strings.EqualFold(req.URL.Scheme, "https") {
			return ErrDowngrade
		}
		if err := p.CheckURL(req.URL); err != nil {
			var be *BlockedError
			if errors.As(err, &be) {
				be.Redirect = true
			}
			return err
		}
		return nil
	}
}

// Options build a guarded client or transport.
type Options struct {
	Policy
	// Timeout bounds a whole request, redirects and body included (0: none;
	// callers usually bound the request's context instead).
	Timeout time.Duration
	// MaxRedirects is how many redirects the client follows (0:
	// DefaultMaxRedirects; negative: none).
	MaxRedirects int
	// TLSClientConfig is the transport's TLS configuration (nil: the
	// system roots, TLS 1.2 at least).
	TLSClientConfig *tls.Config
	// Resolver resolves names (nil: net.DefaultResolver). Tests use one
	// that asks a DNS server on loopback; the check does not depend on it,
	// because it looks at the address dialled, whoever resolved it.
	Resolver *net.Resolver
}

// NewTransport returns a transport whose every connection is checked by the
// policy after resolution. It uses no proxy: a proxy would dial the target
// on our behalf, out of the check's sight.
func NewTransport(o Options) *http.Transport {
	d := &net.Dialer{
		Timeout:   30 * time.Second,
		KeepAlive: 30 * time.Second,
		Resolver:  o.Resolver,
		Control:   o.Policy.Control,
	}
	tlsConf := o.TLSClientConfig
	if tlsConf == nil {
		tlsConf = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           d.DialContext,
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          10,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ResponseHeaderTimeout: 60 * time.Second,
	}
}

// NewClient returns a client on NewTransport with the redirect policy.
func NewClient(o Options) *http.Client {
	return &http.Client{
		Transport:     NewTransport(o),
		CheckRedirect: o.Policy.CheckRedirect(maxHops(o.MaxRedirects)),
		Timeout:       o.Timeout,
	}
}

// Guard returns a copy of c (nil: a client on http.DefaultTransport) with
// the policy's redirect rules. It does not guard c's dialling, which this
// package cannot reach: use it for transports that do not dial (a snapshot
// replay) or that the caller controls (tests); anything that reaches the
// network should come from NewClient.
func Guard(c *http.Client, p Policy, maxRedirects int) *http.Client {
	out := &http.Client{}
	if c != nil {
		*out = *c
	}
	out.CheckRedirect = p.CheckRedirect(maxHops(maxRedirects))
	return out
}

func maxHops(n int) int {
	if n == 0 {
		return DefaultMaxRedirects
	}
	return n
}

// Blocked returns the *BlockedError inside err, if any: a refused dial
// arrives wrapped in *url.Error and *net.OpError.
func Blocked(err error) (*BlockedError, bool) {
	var be *BlockedError
	if errors.As(err, &be) {
		return be, true
	}
	return nil, false
}
