package mongotest

import (
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
)

// Proxy is a loopback TCP proxy in front of a MongoDB-wire server that a
// test cuts and restores: while cut it resets every open connection and
// every new one, as a network partition, a dead server or a server not up
// yet would.
type Proxy struct {
	ln      net.Listener
	cut     atomic.Bool
	refused atomic.Int64
	mu      sync.Mutex
	conns   map[net.Conn]net.Conn
	wg      sync.WaitGroup
}

// StartProxy listens on a loopback port in front of target (host:port),
// cut from the start when cut is set, and stops at cleanup.
func StartProxy(t testing.TB, target string, cut bool) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, conns: map[net.Conn]net.Conn{}}
	p.cut.Store(cut)
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				p.refused.Add(1)
				_ = c.(*net.TCPConn).SetLinger(0) // a reset, not an orderly close
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c] = up
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(up, c); _ = up.Close() })
			p.wg.Go(func() { _, _ = io.Copy(c, up); _ = c.Close() })
		}
	})
	t.Cleanup(func() {
		_ = ln.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

// URI returns serverURI with its host replaced by the proxy's.
func (p *Proxy) URI(serverURI string) string {
	u, err := url.Parse(serverURI)
	if err != nil {
		panic("mongotest: " + err.Error()) // the tests' own URIs
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Cut resets the open connections and refuses new ones.
func (p *Proxy) Cut() {
	p.cut.Store(true)
	p.closeAll()
}

// Restore forwards new connections again.
func (p *Proxy) Restore() { p.cut.Store(false) }

// Refused returns how many connections were refused while cut.
func (p *Proxy) Refused() int64 { return p.refused.Load() }

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c, up := range p.conns {
		_ = c.(*net.TCPConn).SetLinger(0) // a reset, as a partition looks to the client
		_ = c.Close()
		_ = up.Close()
		delete(p.conns, c)
	}
}
