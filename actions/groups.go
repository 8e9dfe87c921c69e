package actions

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/slack-go/slack"
)

// GroupMembers lists the members of a Slack user group
// (usergroups.users.list; slack-go's client does it).
type GroupMembers interface {
	GetUserGroupMembersContext(ctx context.Context, userGroup string, options ...slack.GetUserGroupMembersOption) ([]string, error)
}

// groupCache knows who is in the allowed user groups. It is read on every
// request without asking Slack, so acknowledgements stay fast; Run's
// refresher reads the groups again every TTL, and at once (at most every
// minRefresh) when a caller is not found: someone just added to a group
// is allowed moments later.
type groupCache struct {
	api    GroupMembers
	groups []string
	ttl    time.Duration
	// minRefresh bounds how often misses make it ask Slack.
	minRefresh time.Duration
	log        *slog.Logger

	mu      sync.Mutex
	members map[string][]string // group → users
	wake    chan struct{}
}

func newGroupCache(api GroupMembers, groups []string, ttl time.Duration, log *slog.Logger) *groupCache {
	return &groupCache{api: api, groups: groups, ttl: ttl, minRefresh: 10 * time.Second, log: log,
		members: map[string][]string{}, wake: make(chan struct{}, 1)}
}

// of returns the allowed groups user is in; when none, it asks for a
// refresh (the user may just have been added).
func (g *groupCache) of(user string) []string {
	g.mu.Lock()
	var in []string
	for _, group := range slices.Sorted(maps.Keys(g.members)) {
		if slices.Contains(g.members[group], user) {
			in = append(in, group)
		}
	}
	g.mu.Unlock()
	if len(in) == 0 {
		select {
		case g.wake <- struct{}{}:
		default:
		}
	}
	return in
}

// run refreshes the groups until ctx ends: every TTL, and on a miss, but
// not more often than minRefresh.
func (g *groupCache) run(ctx context.Context) {
	for {
		g.refresh(ctx)
		last := time.Now()
		ttl := time.NewTimer(g.ttl)
		select {
		case <-ctx.Done():
			ttl.Stop()
			return
		case <-ttl.C:
		case <-g.wake:
			ttl.Stop()
			if !sleep(ctx, g.minRefresh-time.Since(last)) {
				return
			}
		}
	}
}

// sleep waits d (returning at once when d <= 0); false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (g *groupCache) refresh(ctx context.Context) {
	for _, group := range g.groups {
		reqCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		users, err := g.api.GetUserGroupMembersContext(reqCtx, group)
		cancel()
		if err != nil {
			g.log.Warn("cannot read a Slack user group; keeping what was known", "group", group, "err", err)
			continue
		}
		g.mu.Lock()
		g.members[group] = users
		g.mu.Unlock()
	}
}
