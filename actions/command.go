package actions

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/internal/grants"
)

// command is a parsed slash command.
type command struct {
	name    string // start, stop, restart, logs, ps, mute, unmute, help
	target  string // container name or ID (or a name glob for mute), validated
	host    string // the Docker host after "@" (name@host), validated; "" for any
	filter  string // ps
	tail    int    // logs
	muteFor time.Duration
}

// maxMute bounds a mute: nobody forgets a container forever by accident.
const maxMute = 7 * 24 * time.Hour

var nameGlob = reference{regexp.MustCompile(`^[A-Za-z0-9*?][A-Za-z0-9_.*?-]*$`), 128}

const (
	defaultTail = 20
	maxTail     = 200
)

// containerRef is what a container name or ID may look like; nothing else
// from the user ever reaches Docker.
var containerRef = reference{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`), 128}

// hostRef is what a Docker host's name (DOCKER_HOSTS, or the daemon's own) may look like.
var hostRef = reference{regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`), 64}

// reference is what a name the user gives may hold: its characters, and
// at most max bytes. (The length is not a {0,n} in the expression: Go
// compiles that into n copies, 300 KB of programs built at every start.)
type reference struct {
	chars *regexp.Regexp
	max   int
}

func (r reference) valid(s string) bool { return len(s) <= r.max && r.chars.MatchString(s) }

var errUsage = errors.New("not a command, or not its arguments")

// parseCommand reads "start web", "logs web --tail 50", "ps shop", "help".
func parseCommand(text string) (command, error) {
	f := strings.Fields(text)
	if len(f) == 0 {
		return command{name: "help"}, nil
	}
	c := command{name: strings.ToLower(f[0])}
	args := f[1:]
	switch c.name {
	case "help":
		return c, nil
	case "ps":
		if len(args) > 1 {
			return c, errUsage
		}
		if len(args) == 1 {
			if !containerRef.valid(args[0]) {
				return c, fmt.Errorf("%w: a filter is part of a container name", errUsage)
			}
			c.filter = args[0]
		}
		return c, nil
	case "mute", "unmute":
		if len(args) != map[string]int{"mute": 2, "unmute": 1}[c.name] {
			return c, errUsage
		}
		c.target = args[0] // for the audit line; checked next
		if !nameGlob.valid(args[0]) {
			return c, fmt.Errorf("%w: %q is not a container name glob", errUsage, args[0])
		}
		if c.name == "mute" {
			d, err := time.ParseDuration(args[1])
			if err != nil || d <= 0 || d > maxMute {
				return c, fmt.Errorf("%w: a mute lasts from 1s to %s, e.g. 30m", errUsage, maxMute)
			}
			c.muteFor = d
		}
		return c, nil
	case string(grants.Start), string(grants.Stop), string(grants.Restart), string(grants.Logs):
		if len(args) == 0 {
			return c, errUsage
		}
		c.target = args[0] // for the audit line; checked next
		if name, host, ok := strings.Cut(args[0], "@"); ok {
			if !hostRef.valid(host) {
				return c, fmt.Errorf("%w: %q is not a Docker host name", errUsage, host)
			}
			c.target, c.host = name, host
		}
		if !containerRef.valid(c.target) {
			return c, fmt.Errorf("%w: %q is not a container name or ID", errUsage, c.target)
		}
		rest := args[1:]
		if c.name == string(grants.Logs) {
			c.tail = defaultTail
			if len(rest) == 2 && rest[0] == "--tail" {
				n, err := strconv.Atoi(rest[1])
				if err != nil || n < 1 {
					return c, fmt.Errorf("%w: --tail takes a number from 1 to %d", errUsage, maxTail)
				}
				c.tail = min(n, maxTail)
				rest = nil
			}
		}
		if len(rest) > 0 {
			return c, errUsage
		}
		return c, nil
	default:
		return c, errUsage
	}
}

func usage(cmd string) string {
	return fmt.Sprintf("Usage:\n`%[1]s start <container>` · `%[1]s stop <container>` · `%[1]s restart <container>`\n"+
		"`%[1]s ps [filter]` · `%[1]s logs <container> [--tail N]` · `%[1]s mute <name-glob> <duration>` · `%[1]s unmute <name-glob>` · `%[1]s help`\n"+
		"A container is its name, its ID, or name@host when whalewatch watches several hosts.", cmd)
}
