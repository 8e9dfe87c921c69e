package events

import (
	"context"
	"time"

	"github.com/moby/moby/client"
)

// Which whalewatch reports Swarm-scope events (service, node, secret,
// config): every manager's daemon sends them, so N managers watched — by
// one whalewatch or by a global service — would report each N times.
const (
	// SwarmLeader: only the stream of the swarm's leader passes them (the
	// default). No coordination is needed; around a leader election an
	// event may be reported twice or not at all.
	SwarmLeader = "leader"
	SwarmAll    = "all" // every manager's stream passes them
	SwarmOff    = "off" // none: container events only
)

// passesSwarm: this stream passes Swarm-scope events now.
func (s *Source) passesSwarm() bool {
	switch s.opts.SwarmEvents {
	case SwarmAll:
		return true
	case SwarmLeader:
		return s.leader.Load()
	}
	return false
}

// watchLeadership keeps s.leader current until ctx ends, beside the reader.
func (s *Source) watchLeadership(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.LeaderCheckEvery):
		}
		info, err := s.info(ctx)
		if err != nil {
			s.log.Warn("cannot tell whether this manager leads the swarm", "err", err)
			s.leader.Store(false)
			continue
		}
		s.leader.Store(s.isLeader(ctx, &info))
	}
}

// isLeader tells from the daemon's info whether it leads its swarm; false
// on any doubt.
func (s *Source) isLeader(ctx context.Context, info *client.SystemInfoResult) bool {
	if info == nil || !info.Info.Swarm.ControlAvailable {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	node, err := s.docker.NodeInspect(ctx, info.Info.Swarm.NodeID, client.NodeInspectOptions{})
	if err != nil {
		s.log.Warn("cannot tell whether this manager leads the swarm", "err", err)
		return false
	}
	return node.Node.ManagerStatus != nil && node.Node.ManagerStatus.Leader
}
