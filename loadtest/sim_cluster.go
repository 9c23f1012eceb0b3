package loadtest

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// SimSpec names one replica of a SimCluster.
type SimSpec struct {
	Name    string
	Profile SimProfile
	// Addr is the host:port to listen on; "" means 127.0.0.1:0.
	Addr string
}

// SimCluster is a set of replicas started together. They share one version
// epoch: a bump on any of them (Bump, or POST /_sim/bump) is a write that every
// replica serves from then on.
type SimCluster struct {
	replicas []*SimReplica
	byName   map[string]*SimReplica
}

// NewSimCluster starts one replica per spec, in order, all with seed (each
// replica mixes its name into it). Names must be unique. If one fails to start,
// those already started are closed.
func NewSimCluster(specs []SimSpec, seed uint64) (*SimCluster, error) {
	c := &SimCluster{byName: make(map[string]*SimReplica, len(specs))}
	epoch := new(atomic.Int64)
	for _, s := range specs {
		if _, dup := c.byName[s.Name]; dup || s.Name == "" {
			c.Close()
			return nil, fmt.Errorf("sim cluster: replica name %q is empty or repeated", s.Name)
		}
		opts := []SimOption{simSharedEpoch(epoch)}
		if s.Addr != "" {
			opts = append(opts, SimListenAddr(s.Addr))
		}
		r, err := NewSimReplica(s.Name, s.Profile, seed, opts...)
		if err != nil {
			c.Close()
			return nil, err
		}
		c.replicas = append(c.replicas, r)
		c.byName[s.Name] = r
	}
	return c, nil
}

// Replicas returns the replicas in spec order.
func (c *SimCluster) Replicas() []*SimReplica {
	return append([]*SimReplica(nil), c.replicas...)
}

// Replica returns the replica named name, or nil.
func (c *SimCluster) Replica(name string) *SimReplica { return c.byName[name] }

// URLs returns the replicas' base URLs in spec order.
func (c *SimCluster) URLs() []string {
	urls := make([]string, len(c.replicas))
	for i, r := range c.replicas {
		urls[i] = r.URL()
	}
	return urls
}

// Served is the sum of every replica's Served: backend requests, to divide by
// client requests for the amplification factor.
func (c *SimCluster) Served() int64 {
	var n int64
	for _, r := range c.replicas {
		n += r.Served()
	}
	return n
}

// Bump makes every key's fresh version one higher on every replica and returns
// the new epoch.
func (c *SimCluster) Bump() int64 {
	if len(c.replicas) == 0 {
		return 0
	}
	return c.replicas[0].Bump()
}

// Close closes every replica and returns their errors joined.
func (c *SimCluster) Close() error {
	var errs []error
	for _, r := range c.replicas {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}
