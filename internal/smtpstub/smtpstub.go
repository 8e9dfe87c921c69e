// Package smtpstub is a small SMTP server on 127.0.0.1 for tests: it
// accepts every mail (no TLS, no auth) and hands each one over.
package smtpstub

import (
	"bufio"
	"net"
	"net/textproto"
	"strings"
	"testing"
)

// Mail is one message received.
type Mail struct {
	From string
	To   []string
	Data string // headers and body, as sent
}

// Server receives mail until the test ends.
type Server struct {
	Addr  string    // host:port
	Mails chan Mail // every mail received, in order
	ln    net.Listener
}

// Start listens on a free loopback port; the server stops with the test.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: ln.Addr().String(), Mails: make(chan Mail, 100), ln: ln}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(conn)
		}
	}()
	return s
}

func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	tp := textproto.NewConn(conn)
	reply := func(code int, text string) bool { return tp.PrintfLine("%d %s", code, text) == nil }
	if !reply(220, "smtpstub ready") {
		return
	}
	var m Mail
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO", "HELO":
			reply(250, "smtpstub")
		case "MAIL":
			m = Mail{From: addr(arg)}
			reply(250, "ok")
		case "RCPT":
			m.To = append(m.To, addr(arg))
			reply(250, "ok")
		case "DATA":
			reply(354, "go on")
			data, err := readData(tp.Reader.R)
			if err != nil {
				return
			}
			m.Data = data
			s.Mails <- m
			reply(250, "queued")
		case "QUIT":
			reply(221, "bye")
			return
		default: // RSET, NOOP …
			reply(250, "ok")
		}
	}
}

// addr takes the address out of "FROM:<a@b>" or "TO:<a@b>".
func addr(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	a, _, _ = strings.Cut(strings.TrimSpace(a), " ")
	return strings.Trim(a, "<>")
}

func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}
