package events

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/whalewatch/whalewatch/internal/syncbuf"
)

// SSHDialer reaches the daemon of an ssh://[user@]host[:port] URL as the
// docker CLI does: it runs `docker system dial-stdio` on the host over the
// system's ssh, and speaks the Docker API through its stdin and stdout.
// ssh runs in batch mode with its own configuration (configFile, when
// set, else ~/.ssh/config): keys and known_hosts as for any ssh, and an
// unknown host key is refused, never accepted blindly.
func SSHDialer(rawURL, configFile string) (func(ctx context.Context, network, addr string) (net.Conn, error), error) {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "ssh" || u.Hostname() == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("%q is not ssh://[user@]host[:port]", rawURL)
	}
	args := []string{"-o", "BatchMode=yes"}
	if configFile != "" {
		args = append(args, "-F", configFile)
	}
	if u.User != nil {
		args = append(args, "-l", u.User.Username())
	}
	if u.Port() != "" {
		args = append(args, "-p", u.Port())
	}
	args = append(args, "--", u.Hostname(), "docker", "system", "dial-stdio")
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		return dialCommand(ctx, "ssh", args...)
	}, nil
}

// dialCommand starts a command whose stdin and stdout are the connection.
// The command lives as long as the connection (not ctx: a dial's context
// ends when the dial does).
func dialCommand(ctx context.Context, name string, args ...string) (net.Conn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cmd := exec.Command(name, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &commandConn{cmd: cmd, stdin: stdin, stdout: stdout, stderr: &syncbuf.Buffer{Max: 4096}} // enough to say why
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("run %s: %w", name, err)
	}
	return c, nil
}

// commandConn is a net.Conn over a command's stdin and stdout.
type commandConn struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout io.ReadCloser
	stderr *syncbuf.Buffer
	once   sync.Once
}

func (c *commandConn) Read(p []byte) (int, error) {
	n, err := c.stdout.Read(p)
	if err == io.EOF && c.stderr.Len() > 0 {
		err = fmt.Errorf("%s: %s", c.cmd.Path, strings.TrimSpace(c.stderr.String())) // why ssh ended
	}
	return n, err
}

func (c *commandConn) Write(p []byte) (int, error) { return c.stdin.Write(p) }

func (c *commandConn) Close() error {
	c.once.Do(func() {
		_ = c.stdin.Close()
		_ = c.cmd.Process.Kill()
		_ = c.cmd.Wait()
	})
	return nil
}

func (c *commandConn) LocalAddr() net.Addr              { return commandAddr{} }
func (c *commandConn) RemoteAddr() net.Addr             { return commandAddr{} }
func (c *commandConn) SetDeadline(time.Time) error      { return nil }
func (c *commandConn) SetReadDeadline(time.Time) error  { return nil }
func (c *commandConn) SetWriteDeadline(time.Time) error { return nil }

type commandAddr struct{}

func (commandAddr) Network() string { return "command" }
func (commandAddr) String() string  { return "command" }
