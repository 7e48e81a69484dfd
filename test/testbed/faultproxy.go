package testbed

import (
	"io"
	"net"
	"sync"
)

// FaultProxy is a TCP proxy in front of one server that can cut traffic by source address, to
// partition a hub: each member's Raft traffic arrives through the proxy in front of its peer, from
// the member's own loopback address (members dial from the address they bind).
type FaultProxy struct {
	listener net.Listener
	target   string

	mu      sync.Mutex
	blocked func(src net.IP) bool
	conns   map[net.Conn]net.IP // accepted client connection -> its source
	closed  bool
	wg      sync.WaitGroup
}

// NewFaultProxy listens on listen (e.g. "127.0.0.1:0") and forwards to target.
func NewFaultProxy(listen, target string) (*FaultProxy, error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	p := &FaultProxy{listener: l, target: target, conns: map[net.Conn]net.IP{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is where clients connect.
func (p *FaultProxy) Addr() string { return p.listener.Addr().String() }

// Block cuts every connection whose source matches and refuses new ones; nil lets all through.
func (p *FaultProxy) Block(match func(src net.IP) bool) {
	p.mu.Lock()
	p.blocked = match
	var cut []net.Conn
	for c, src := range p.conns {
		if match != nil && match(src) {
			cut = append(cut, c)
		}
	}
	p.mu.Unlock()
	for _, c := range cut {
		_ = c.Close()
	}
}

// Close stops the proxy and every connection through it.
func (p *FaultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	_ = p.listener.Close()
	p.wg.Wait()
}

func (p *FaultProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.listener.Accept()
		if err != nil {
			return
		}
		src := c.RemoteAddr().(*net.TCPAddr).IP
		p.mu.Lock()
		if p.closed || (p.blocked != nil && p.blocked(src)) {
			p.mu.Unlock()
			_ = c.Close()
			continue
		}
		p.conns[c] = src
		p.wg.Add(1)
		p.mu.Unlock()
		go p.pipe(c)
	}
}

func (p *FaultProxy) pipe(c net.Conn) {
	defer p.wg.Done()
	defer func() {
		p.mu.Lock()
		delete(p.conns, c)
		p.mu.Unlock()
		_ = c.Close()
	}()
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	copyHalf := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src) // a cut connection ends the copy; nothing to report
		_ = dst.Close()
		_ = src.Close()
		done <- struct{}{}
	}
	go copyHalf(up, c)
	go copyHalf(c, up)
	<-done
	<-done
}
